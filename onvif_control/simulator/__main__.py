"""``python -m onvif_control.simulator``: the ``vms simulate-camera`` command standalone."""

import sys

from onvif_control.simulator.cli import main

if __name__ == "__main__":
    sys.exit(main())
