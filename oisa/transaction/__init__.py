"""The transaction layer, sans-IO: requests, completions, tags and splitting.

``Requester`` turns reads and writes into request messages and matches completions to them;
``Completer`` executes requests against a memory and answers them. Neither knows about time or
trio: the emulation feeds them messages and sends what they return.

What it must not know: trio, ``link`` and ``sim``. It speaks in messages; how they cross a
link, and when, is decided elsewhere.
"""

from oisa.transaction.completer import Completer, Memory, refusal
from oisa.transaction.requester import Operation, OperationCompleted, OperationFailed, Requester

__all__ = ["Completer", "Memory", "Operation", "OperationCompleted", "OperationFailed", "Requester", "refusal"]
