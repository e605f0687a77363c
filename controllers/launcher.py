"""Starts the vpclab apps in one controller process (os-ken 4 has no osken-manager).

    python -m controllers.launcher --config RUN/controller.json --ofp-port N
"""
import argparse
import os
import signal
import sys

from controllers import config
from controllers.compat import PROJECT, app_manager, cfg, hub

APPS = ['controllers.apps.mapping_service', 'controllers.apps.router_app', 'controllers.management_api']


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--config', required=True, help='controller.json written by the fabric')
    ap.add_argument('--ofp-port', type=int, required=True, help='OpenFlow port on 127.0.0.1')
    args = ap.parse_args(argv)
    os.environ[config.ENV] = os.path.abspath(args.config)
    hub.patch(thread=False)
    cfg.CONF(args=['--ofp-listen-host', '127.0.0.1',
                   '--ofp-tcp-listen-port', str(args.ofp_port)], project=PROJECT)
    # stopping is by SIGTERM from the lab that started us; nothing to save
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    manager = app_manager.AppManager.get_instance()
    manager.load_apps(APPS)
    services = manager.instantiate_apps(**manager.create_contexts())
    hub.joinall(services)


if __name__ == '__main__':
    sys.exit(main())
