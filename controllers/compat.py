"""The one place that knows whether os-ken or Ryu provides the Ryu API.

os-ken (the maintained fork) is preferred: Ryu 4.34 needs an old eventlet to run on
Python 3.11. Everything the apps use has the same name in both; only the base class
of an app differs (OSKenApp vs RyuApp).
"""
try:
    from os_ken import cfg
    from os_ken.base import app_manager
    from os_ken.controller import event, ofp_event
    from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
    from os_ken.lib import hub
    from os_ken.lib.packet import arp, ether_types, ethernet, ipv4, packet, tcp, udp
    from os_ken.ofproto import nicira_ext, ofproto_v1_3, ofproto_v1_3_parser
    BaseApp = app_manager.OSKenApp
    PROJECT = 'os_ken'
except ImportError:  # pragma: no cover - exercised only where Ryu is installed
    import eventlet.wsgi
    if not hasattr(eventlet.wsgi, 'ALREADY_HANDLED'):
        # Ryu 4.34 imports a name that eventlet 0.33 (the newest that runs Ryu on
        # Python 3.11) no longer has
        eventlet.wsgi.ALREADY_HANDLED = object()
    from ryu import cfg
    from ryu.base import app_manager
    from ryu.controller import event, ofp_event
    from ryu.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
    from ryu.lib import hub
    from ryu.lib.packet import arp, ether_types, ethernet, ipv4, packet, tcp, udp
    from ryu.ofproto import nicira_ext, ofproto_v1_3, ofproto_v1_3_parser
    BaseApp = app_manager.RyuApp
    PROJECT = 'ryu'

__all__ = ['BaseApp', 'PROJECT', 'app_manager', 'arp', 'cfg', 'CONFIG_DISPATCHER',
           'ethernet', 'ether_types', 'event', 'hub', 'ipv4', 'MAIN_DISPATCHER',
           'nicira_ext', 'ofp_event', 'ofproto_v1_3', 'ofproto_v1_3_parser', 'packet', 'set_ev_cls', 'tcp', 'udp']
