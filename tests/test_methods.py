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


def test_schema_is_filled_from_the_registry_and_the_file_names_no_method() -> None:
    """The schema's five per-method places come from the registry (its order); the JSON file spells no method."""
    from cardiomm.config import load_schema

    s = load_schema()["properties"]
    assert s["methods"]["items"]["enum"] == list(methods.METHODS)
    assert [m for m in s["models"]["properties"] if m != "segmentation"] == list(methods.NEEDS_MODEL)
    assert [m for m in s["train"]["properties"] if m in methods.REGISTRY] == list(methods.TRAINABLE)
    assert s["train"]["properties"]["published"]["items"]["enum"] == list(methods.PUBLISHED_METHODS)
    assert [m for m in s["published"]["properties"] if m != "clip_dir"] == list(methods.PUBLISHED_METHODS)
    assert [m for m in methods.METHODS if m in s] == [n for n, m in methods.REGISTRY.items() if m.config]
    assert list(s["tune_classical"]["properties"]["grid"]["properties"]) == [
        n for n, m in methods.REGISTRY.items() if m.tune]
    text = json.dumps(SCHEMA)
    for name in methods.METHODS:
        if name != "promptmr":  # PromptMRConfig.model_version's value "promptmr" is an architecture variant
            assert f'"{name}"' not in text, name


def test_labels_unique_and_kinds_consistent() -> None:
    labels = [m.label for m in methods.REGISTRY.values()]
    assert len(set(labels)) == len(labels)
    for name, m in methods.REGISTRY.items():
        assert m.name == name and m.kind in methods.KINDS
        assert m.needs_model == (m.kind in ("neural", "published")), name
    assert methods.label("cardiomm") == "CardioMM-style (ours)" and methods.label("reference") == "reference"
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        methods.method("nope")


def test_every_entry_point_resolves_to_a_callable() -> None:
    for m in methods.REGISTRY.values():
        module, func = m.entry.split(":")
        assert callable(getattr(importlib.import_module(module), func)), m.entry
        for path in (m.network, m.network_config, m.port):
            assert path is None or methods.load(path) is not None, path


def test_architectures_are_the_registry_networks() -> None:
    """Every method that reads a model has a network (and only those); a network knows its method only through
    the registry (arch_of), and a published port is named by its entry alone."""
    import torch

    from cardiomm.recon.learned.architectures import ARCHS, arch_of, build_model
    from cardiomm.recon.learned.published import PublishedPort, port, published

    assert list(ARCHS) == list(methods.NEEDS_MODEL)
    assert published() == list(methods.PUBLISHED_METHODS)
    assert all(isinstance(port(n), PublishedPort) for n in published()) and port("cardiomm") is None
    for name in ("cardiomm", "varnet"):
        assert arch_of(build_model(name, {"cascades": 1})) == name
    with pytest.raises(ValueError, match="network of no registered method"):
        arch_of(torch.nn.Linear(1, 1))


def test_no_module_dispatches_on_a_method_name() -> None:
    """Method names stand in the registry only (and the config, docs, tests): no package module, rule or script
    compares against one or keys a table by one (docstrings and comments aside)."""
    names = set(methods.METHODS) - {"cardiomm"}  # the package's own name is not a method literal
    alternatives = "|".join(sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"""["']({alternatives})["']""")
    found = []
    skip = {"cardiomm/methods.py"}
    ports = {"cardiomm/recon/learned/networks/promptmr.py", "cardiomm/recon/learned/networks/cardiomm_official.py"}
    for p in [*(REPO / "cardiomm").rglob("*.py"), *(REPO / "rules").glob("*.smk"), REPO / "Snakefile",
              *(REPO / "workflow_scripts").glob("*.py")]:
        rel = str(p.relative_to(REPO))
        if rel in skip:
            continue
        src = p.read_text()
        code = src
        if p.suffix == ".py":  # strings that are not docstrings
            tree = ast.parse(src)
            docs = {id(n.body[0].value) for n in ast.walk(tree)
                    if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
                    and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
            code = " ".join(repr(n.value) for n in ast.walk(tree)
                            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs)
        for m in pattern.finditer(code):
            if rel in ports and m.group(1) == "promptmr":  # a PromptMR config value (model_version), not the method
                continue
            found.append(f"{rel}: {m.group(0)}")
    # the published ports' class attribute `arch` (their own files; unused since the registry names networks)
    assert sorted(found) == sorted(["cardiomm/recon/learned/networks/cardiomm_official.py: 'cardiomm_official'"]), \
        found


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
    assert p.config == {} and p.published == cfg["published"]
    for m in CLASSICAL:  # a classical method gets its own block, defaults filled
        q = ReconParams.from_config(cfg, m)
        assert q.model_path is None and q.config == cfg[m] and set(q.config) == set(methods.method(m).defaults)
    from cardiomm.workflow import plan_from_config

    assert plan_from_config(cfg).recon_params("cs") == ReconParams.from_config(cfg, "cs")
