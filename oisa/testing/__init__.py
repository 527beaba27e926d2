"""What oisa's users test their own work with: public Hypothesis strategies for frames and
messages (``oisa.testing.strategies``), the adapter conformance kit
(``oisa.testing.conformance``, also a pytest plugin) and the fuzzer (``oisa.testing.fuzz``).

This package module itself stays light (the command line reads the defaults below without
importing Hypothesis)."""

__all__ = ["CONFORMANCE_EXAMPLES", "FUZZ_EXAMPLES"]

CONFORMANCE_EXAMPLES = 25  # generated examples per conformance case (end-to-end cases run a few fabrics)
FUZZ_EXAMPLES = 100  # generated inputs per fuzz run
