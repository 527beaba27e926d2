"""Example Semiconductor's plug-in for oisa: the XLink device adapter and the profile of its
(invented) Example GPU. oisa finds both through the ``oisa.devices`` entry point, so nothing
here needs importing by hand."""

from oisa_example_vendor.adapter import ExampleXLinkAdapter

__all__ = ["ExampleXLinkAdapter"]
