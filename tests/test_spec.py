"""The one spec grammar (graphaug.spec): none, dropout:P@T, pca:K@T, one printed label."""
import pytest

from graphaug.contrastive import MethodConfig
from graphaug.spec import AugSpec, config_label, parse_spec, spec_label


@pytest.mark.parametrize("text, kind, rate, target, label", [
    ("none", None, None, None, "none"),
    ("NONE", None, None, None, "none"),
    ("dropout:0.25@2", "dropout", 0.25, 2, "dropout:0.25@2"),
    ("dropout:0.5@0", "dropout", 0.5, 0, "dropout:0.5@0"),
    ("pca:-1@3", "pca", -1.0, 3, "pca:-1@3"),
    ("pca:1.0@1", "pca", 1.0, 1, "pca:1@1"),
    ("dropout:.125@4", "dropout", 0.125, 4, "dropout:0.125@4"),
])
def test_specs_parse_and_print_one_way(text, kind, rate, target, label):
    spec = parse_spec(text)
    assert (spec.kind, spec.rate, spec.target, spec.label, str(spec)) == \
        (kind, rate, target, label, label)
    assert parse_spec(spec.label) == spec  # the label parses back to the same spec


@pytest.mark.parametrize("text, message", [
    ("dropout:1.5@2", "dropout p must be in [0, 1), got 1.5"),
    ("dropout:-0.1@2", "dropout p must be in [0, 1)"),
    ("pca:inf@2", "pca k must be finite, got inf"),
    ("pca:nan@2", "pca k must be finite, got nan"),
    ("nan", "unknown transform 'nan'"),
    ("pca:0@2", "pca k must be a non-zero integer with |k| <= 6, got 0"),
    ("pca:2.5@2", "got 2.5"),
    ("pca:7@2", "got 7"),
    ("gauss:0.1@2", "unknown transform 'gauss'"),
    ("dropout:abc@2", "dropout p 'abc' is not a number"),
    ("dropout:0.25@-1", "the target '-1' must be an integer >= 0"),
    ("dropout:0.25@x", "the target 'x' must be an integer >= 0"),
    ("dropout:0.25", "no target; write it as dropout:0.25@T"),
])
def test_bad_specs_name_the_value_and_the_grammar(text, message):
    with pytest.raises(ValueError, match="bad spec") as err:
        parse_spec(text)
    assert message in str(err.value) and repr(text) in str(err.value)


def test_targets_given_elsewhere():
    assert parse_spec("dropout:0.25", target=False) == AugSpec("dropout", 0.25, None)
    assert parse_spec("dropout:0.25", target=False).label == "dropout:0.25"
    assert parse_spec("dropout:0.25", target=False).at(2).label == "dropout:0.25@2"
    with pytest.raises(ValueError, match="no @target here"):
        parse_spec("dropout:0.25@2", target=False)
    assert parse_spec("pca:1@2", target=None).target == 2
    assert parse_spec("pca:1", target=None).target is None


def test_pca_width_is_checked_before_training():
    parse_spec("pca:3@2").check_width(6, "--hidden 6")
    parse_spec("dropout:0.5@2").check_width(1, "--hidden 1")  # dropout has no width need
    with pytest.raises(ValueError, match="pca:3@2 needs at least 6 features at target 2.*"
                       "--hidden 4 gives 4: use a width of 6 or more"):
        parse_spec("pca:3@2").check_width(4, "--hidden 4")


def test_one_label_for_configs_cli_tables_and_caches():
    assert spec_label("dropout", 0.25, 2) == "dropout:0.25@2" and spec_label(None) == "none"
    assert config_label("deepaug", "pca", -1, 3) == "deepaug pca:-1@3"
    assert config_label("graphcl", "dropout", 0.25, 2) == "graphcl none"  # no transform
    assert MethodConfig("graphcl+deepaug", transform="dropout", rate=0.25, target=2).label() \
        == "graphcl+deepaug dropout:0.25@2"
    assert MethodConfig("graphcl", backend="dgl").label() == "dgl:graphcl none"
