"""`make build`: the built template points at the built folders, and a bundle over Lambda's limits fails."""

import shutil

import pytest

from tools import bundle

MB = 1024 * 1024


def test_the_built_template_points_every_function_and_the_layer_at_its_build_folder():
    # Given the project's template
    text = (bundle.ROOT / "template.yaml").read_text()
    arts = bundle.artifacts(bundle.load_template_text(text))
    # When it is rewritten as sam build does
    built = bundle.load_template_text(bundle.built_template(text, {a.logical_id: a.source for a in arts}))
    # Then each CodeUri / ContentUri names the resource's own folder and nothing else changed
    for art in arts:
        props = built["Resources"][art.logical_id]["Properties"]
        assert props.get("CodeUri", props.get("ContentUri")) == art.logical_id
    assert {a.kind for a in arts} == {"function", "layer"}


def test_sizes_past_lambdas_limits_are_reported():
    # Given a function whose layer makes it too big unzipped, and one too big zipped
    sizes = {
        "limits_mb": {},
        "Big": {"kind": "function", "unzipped_mb": 10, "zipped_mb": 3, "unzipped_with_layers_mb": 251},
        "Zipped": {"kind": "function", "unzipped_mb": 60, "zipped_mb": 51, "unzipped_with_layers_mb": 70},
        "Fine": {"kind": "function", "unzipped_mb": 1, "zipped_mb": 0.5, "unzipped_with_layers_mb": 15},
    }
    # Then both are named, the fine one is not
    problems = bundle.over_limits(sizes)
    assert len(problems) == 2
    assert any(p.startswith("Big:") and "250 MB" in p for p in problems)
    assert any(p.startswith("Zipped:") and "50 MB" in p for p in problems)


@pytest.mark.skipif(not (bundle.BUILD_DIR / "template.yaml").exists(), reason="run `make build` first")
def test_the_import_check_fails_when_the_bundle_lacks_a_dependency(tmp_path):
    # Given the built bundle without one of the layer's packages (requests)
    out = tmp_path / "build"
    shutil.copytree(bundle.BUILD_DIR, out, symlinks=True)
    shutil.rmtree(out / "SharedLayer" / "python" / "requests")
    # When the handlers are imported from it
    with pytest.raises(SystemExit) as failed:
        bundle.check(out)
    # Then the check names the handlers that need it and the missing module
    assert "DeliveryFunction" in str(failed.value)
    assert "No module named 'requests'" in str(failed.value)
