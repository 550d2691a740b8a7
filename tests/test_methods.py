"""The method registry is the one source of method names; the one mask grammar; the one reference image."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cardiomm import methods
from cardiomm.conventions import ALL_PATTERNS, R_MAX, R_MIN, MaskName, parse_mask_name

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "cardiomm/schema/config.schema.json").read_text())


def test_schema_enum_is_the_registry_in_its_order() -> None:
    assert SCHEMA["properties"]["methods"]["items"]["enum"] == list(methods.METHODS)


def test_labels_unique_and_kinds_consistent() -> None:
    labels = [m.label for m in methods.REGISTRY.values()]
    assert len(set(labels)) == len(labels)
    for name, m in methods.REGISTRY.items():
        assert m.name == name and m.kind in methods.KINDS
        assert m.needs_model == (m.kind in ("neural", "published")), name
    assert methods.label("cardiomm") == "CardioMM-style (ours)" and methods.label("reference") == "reference"
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        methods.method("nope")


def test_every_entry_point_resolves_to_a_function() -> None:
    for m in methods.REGISTRY.values():
        module, func = m.entry.split(":")
        assert callable(getattr(importlib.import_module(module), func)), m.entry


def test_checkpoint_architectures_are_the_methods_that_need_a_model() -> None:
    from cardiomm.recon.learned.architectures import ARCHS, PUBLISHED

    assert set(ARCHS) == set(methods.NEEDS_MODEL)
    assert set(PUBLISHED) == set(methods.PUBLISHED_METHODS)


def test_conventions_is_the_ground_floor() -> None:
    """conventions imports nothing of the package, and nothing below the registry re-exports the method names."""
    from cardiomm import conventions

    assert _graph()["cardiomm.conventions"] == set()
    for name in ("METHODS", "CLASSICAL", "PUBLISHED_METHODS", "REGISTRY"):
        assert not hasattr(conventions, name), name


def test_the_circle_test_sees_type_only_imports(tmp_path: Path) -> None:
    """The cycle test counts an import under ``if TYPE_CHECKING:`` (the circle of issue 31 ran through one)."""
    f = tmp_path / "m.py"
    f.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cardiomm.acquisition import A\n")
    assert _imports(f, {"cardiomm.acquisition"}) == {"cardiomm.acquisition"}


def test_workflow_audit_take_names_from_the_registry() -> None:
    from cardiomm import workflow
    from cardiomm.compare.audit import METHOD_LABELS

    assert set(workflow.NEURAL) == set(methods.NEEDS_MODEL)
    assert {n: METHOD_LABELS[n] for n in methods.METHODS} == {n: m.label for n, m in methods.REGISTRY.items()}


def test_wildcard_constraints_are_built_from_the_registry() -> None:
    smk = (REPO / "rules/common.smk").read_text()
    block = smk.split("wildcard_constraints:", 1)[1].split("\n\n", 1)[0]
    assert 'method="|".join(wf.METHODS)' in block and 'model="|".join(wf.TRAINABLE)' in block
    for name in methods.METHODS:  # no method name written out in the constraints
        assert not re.search(rf"\b{name}\b", block), name


def test_registry_and_compare_import_no_torch() -> None:
    code = ("import sys, cardiomm.methods, cardiomm.compare.audit, cardiomm.compare.agreement; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of ``modules`` that ``path`` imports, at any depth: lazy imports inside functions and imports under
    ``if TYPE_CHECKING:`` included (a type-only import is still a dependency of the layer above on the one below:
    a circle of them is a circle)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from cardiomm.stages import recon`
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    out = set()
    for m in found:  # `from cardiomm.recon.classical.cs import x` is the module cardiomm.recon.classical.cs
        while m and m not in modules:
            m = m.rpartition(".")[0]
        if m:
            out.add(m)
    return out


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in (REPO / "cardiomm").rglob("*.py")}
    return {m: _imports(p, set(files)) - {m} for m, p in files.items()}


def test_the_package_has_no_import_cycle() -> None:
    """No module of cardiomm imports (directly or through others, type-only imports included) a module that imports
    it back: the layers run one way (compare/ was the last circle of issue 13's findings; segmenters and bart/cs
    followed; conventions -> methods -> acquisition -> conventions was issue 31's)."""
    graph = _graph()
    assert len(graph) >= 50
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == node.rpartition(".")[0] or node.startswith(nxt + "."):
                continue  # a module and its own package __init__
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


# --------------------------------------------------------------------------------------------- the mask grammar
def _candidates() -> list[str]:
    names = []
    for p in (*ALL_PATTERNS, "Poisson", "uniform", ""):
        for r in [str(i) for i in range(0, 40)] + ["00", "02", "04", "08", "010", "100", "4.5", "-4", ""]:
            names.append(p + r)
    return names + ["AccFactor4", "Uniform8 ", " ktRadial24", "ktGaussian16x"]


def _parses(name: str) -> bool:
    try:
        parse_mask_name(name)
    except ValueError:
        return False
    return True


def test_schema_mask_pattern_accepts_exactly_the_grammar() -> None:
    rx = re.compile(SCHEMA["properties"]["masks"]["items"]["pattern"])
    for name in _candidates():
        assert (rx.search(name) is not None) == _parses(name), name


def test_mask_names_round_trip() -> None:
    n = 0
    for name in _candidates():
        if _parses(name):
            mn = parse_mask_name(name)
            assert str(mn) == name and parse_mask_name(str(mn)) == mn and R_MIN <= mn.R <= R_MAX
            n += 1
    # 4 line/kt patterns x R 2..32; AccFactor only with two digits: 02, 04, 08 and 10..32 among the candidates
    assert n == 4 * (R_MAX - R_MIN + 1) + 3 + (R_MAX - 10 + 1)
    assert parse_mask_name("AccFactor04") == MaskName("AccFactor", 4)


def test_prompt_and_release_folders_use_the_grammar() -> None:
    from cardiomm.io.releases import _is_accfactor
    from cardiomm.recon.learned.prompts import encode_mask_name, encode_undersampling

    for name in ("Uniform8", "ktGaussian16", "ktRadial24", "ktUniform4", "AccFactor10"):
        mn = parse_mask_name(name)
        assert encode_mask_name(name) == encode_undersampling(mn.pattern, mn.R)
    assert _is_accfactor("AccFactor08") and not _is_accfactor("AccFactor00") and not _is_accfactor("Uniform8")


# --------------------------------------------------------------------------------------------- the reference image
def _numpy_reference(k: np.ndarray) -> np.ndarray:
    """RSS of the centred orthonormal inverse 2D FFT, in NumPy."""
    img = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    return np.sqrt((np.abs(img) ** 2).sum(axis=-3))


def test_reference_image_is_one_function_and_matches_numpy() -> None:
    from cardiomm.recon.classical.zero_filled import zero_filled
    from cardiomm.segmentation import data

    assert data.zero_filled is zero_filled and not hasattr(data, "rss_series")
    rng = np.random.default_rng(0)
    k = (rng.standard_normal((3, 2, 4, 12, 10)) + 1j * rng.standard_normal((3, 2, 4, 12, 10))).astype(np.complex64)
    img = zero_filled(k)
    assert img.dtype == np.float32 and img.shape == (3, 2, 12, 10)
    np.testing.assert_allclose(img, _numpy_reference(k.astype(np.complex128)), rtol=1e-5, atol=1e-6)
    # frame by frame = the whole series at once, bit for bit (the reference rule and training see one image)
    assert all(np.array_equal(img[t], zero_filled(k[t:t + 1])[0]) for t in range(3))
    # the registered zero-filled method is the same function on the undersampled data
    rec = methods.method("zerofilled").prepare()
    from cardiomm.acquisition import Acquisition

    acq = Acquisition.from_arrays(k, np.ones((3, 12, 10), np.uint8), "Uniform8", 4, {"modality": "cine"})
    assert np.array_equal(rec(acq), img)


def test_recon_params_from_a_config_are_what_the_recon_rule_passes(tmp_path):
    import yaml

    from cardiomm.config import validate_config
    from cardiomm.methods import CLASSICAL, ReconParams

    cfg = validate_config(yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text()))
    p = ReconParams.from_config(cfg, "promptmr", tmp_path)
    assert p.model_path == str(tmp_path / cfg["models"]["promptmr"])
    assert p.sense == cfg["sense"] and set(p.classical) == set(CLASSICAL) and p.published == cfg["published"]
    assert ReconParams.from_config(cfg, "sense").model_path is None
