"""The link layer, sans-IO: no trio and no clock; time enters as an argument.

``LinkEndpoint`` is one end of a link: it turns queued messages into flits and received flits
back into messages. The emulation (``oisa.sim``) drives it over a wire.
"""

from oisa.link.endpoint import LinkEndpoint, LinkStats

__all__ = ["LinkEndpoint", "LinkStats"]
