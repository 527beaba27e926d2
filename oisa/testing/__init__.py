"""What oisa's users test their own work with: public Hypothesis strategies for frames and
messages (``oisa.testing.strategies``)."""
