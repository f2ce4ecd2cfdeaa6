"""The file `pulltrace addon-path` names: `mitmdump -s "$(pulltrace addon-path)"`.

It ships inside the package, so an installed pulltrace offers the addon without a clone.
"""

from pulltrace.capture.addon import PullTrace

addons = [PullTrace()]
