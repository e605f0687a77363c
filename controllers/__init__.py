"""The controller of vpclab: the pipeline declaration (pipeline.py), the per-host virtual router as
pure code (router/), and the os-ken apps that run it (apps/, management_api.py).

Written against the Ryu API; `compat` picks os-ken (default) or Ryu.
"""
