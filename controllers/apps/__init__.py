"""The os-ken apps of the controller process (controllers/launcher.py starts them): they
translate OpenFlow and inter-app events and send; decisions are made in controllers/router/."""
