"""oisa's pytest plugin: `pytest --oisa-adapter NAME` runs one test per conformance case, and
without the option the plugin adds nothing and imports nothing of oisa."""

import pytest

pytest_plugins = ["pytester"]


def test_without_the_option_the_plugin_does_nothing(pytester):
    pytester.makepyfile(test_alone="""
        import sys

        def test_nothing_of_oisa_but_the_plugin_was_imported():
            loaded = {name for name in sys.modules if name.split(".")[0] == "oisa"}
            assert loaded == {"oisa", "oisa.testing", "oisa.testing.pytest_plugin"}
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "--oisa-adapter=NAME" in pytester.runpytest_inprocess("--help").stdout.str()


def test_the_option_runs_every_case_against_the_adapter(pytester):
    result = pytester.runpytest_inprocess("--oisa-adapter", "example-xlink", "--oisa-examples", "3", "-p",
                                          "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=14, skipped=1)
    result.stdout.fnmatch_lines(["*needs capability early_completion, which example-xlink does not declare*"])


def test_an_unknown_adapter_is_a_usage_error(pytester):
    result = pytester.runpytest_inprocess("--oisa-adapter", "nvlink", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--oisa-adapter nvlink: no device adapter named 'nvlink'*"])


def test_a_test_suite_can_subclass_the_conformance_class(pytester):
    pytester.makepyfile(test_mine="""
        from oisa.testing.conformance.pytest_suite import AdapterConformance

        class TestPcieConformance(AdapterConformance):
            adapter = "pcie-tlp"
            examples = 3
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-k", "ROUNDTRIP or EARLY or DECL")
    result.assert_outcomes(passed=2, skipped=1)
