"""The link layer, sans-IO: no trio and no clock; time enters as an argument.

``LinkEndpoint`` is one end of a link: it turns queued messages into sequenced, acknowledged,
flow-controlled flits and received flits back into messages, replaying and retraining as
needed. ``LinkConfig`` holds its parameters; ``oisa.link.states`` its control state table.
The emulation (``oisa.sim``) drives it over a wire.

What it must not know: trio, ``transaction`` and ``sim``. It carries messages without knowing
what they ask, and time only as the numbers it is given.
"""

from oisa.link.endpoint import LinkConfig, LinkEndpoint, LinkStats, PassRule
from oisa.link.states import LinkInput, LinkState

__all__ = ["LinkConfig", "LinkEndpoint", "LinkInput", "LinkState", "LinkStats", "PassRule"]
