"""Static checks of the cluster files: profiles/slurm, profiles/local and envs/cardiomm.yaml.

The real end-to-end proof is tests/slurm/run_slurm_test.sh (needs root and a disposable machine); these tests
run everywhere in a second and catch the mistakes that break a cluster run before it starts: a profile key
Snakemake does not know, a resource expression that does not evaluate, a GPU model leaking onto CPU jobs,
the conda environment drifting from requirements.txt.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.cli import get_argument_parser
from snakemake.profiles import ProfileConfigFileParser

REPO = Path(__file__).resolve().parents[2]
SLURM = REPO / "profiles" / "slurm" / "config.yaml"
LOCAL = REPO / "profiles" / "local" / "config.yaml"
ENV = REPO / "envs" / "cardiomm.yaml"
SITE_VARS = ("CARDIOMM_SLURM_ACCOUNT", "CARDIOMM_SLURM_PARTITION", "CARDIOMM_SLURM_GPU_PARTITION",
             "CARDIOMM_SLURM_GPU_MODEL", "CARDIOMM_SLURM_GPUS")


def load_profile(path: Path, env: dict[str, str] | None = None) -> dict:
    """The profile as Snakemake reads it (yte processed, `key=value` strings), under the given site variables."""
    saved = {k: os.environ.pop(k) for k in SITE_VARS if k in os.environ}
    os.environ.update(env or {})
    try:
        with path.open() as f:
            return dict(ProfileConfigFileParser().parse(f))
    finally:
        for k in env or {}:
            os.environ.pop(k, None)
        os.environ.update(saved)


def rule_resources(profile: dict, rule: str) -> dict[str, str]:
    """``{resource: expression}`` of one rule from the profile's ``set-resources`` (``rule:res=expr``)."""
    out = {}
    for item in profile.get("set-resources", []):
        name, assign = item.split(":", 1)
        if name == rule:
            key, expr = assign.split("=", 1)
            out[key] = expr
    return out


def evaluate(expr: str, method: str, attempt: int = 1) -> object:
    """A resource expression as Snakemake evaluates it for one recon job."""
    return eval(expr, {"wildcards": SimpleNamespace(method=method), "attempt": attempt})  # noqa: S307


@pytest.mark.parametrize("path", [SLURM, LOCAL, REPO / "tests" / "slurm" / "profile" / "config.yaml"])
def test_every_profile_key_is_a_snakemake_option(path: Path) -> None:
    keys = set(yaml.safe_load(path.read_text())) - {"__use_yte__", "__definitions__"}
    parser = get_argument_parser()
    known = {opt.lstrip("-") for action in parser._actions for opt in action.option_strings}
    assert keys <= known, f"{path}: unknown Snakemake options {sorted(keys - known)}"


def test_slurm_profile_defaults_without_site_settings() -> None:
    p = load_profile(SLURM)
    assert p["executor"] == "slurm"
    assert "cores" in p, "without cores the training rules' `threads: workflow.cores` fails at parse time"
    defaults = dict(item.split("=", 1) for item in p["default-resources"])
    assert defaults.keys() == {"runtime", "mem_mb"}, "no account/partition unless the site sets them"
    recon = rule_resources(p, "recon")
    assert "gpu" not in recon and "gpu_model" not in recon, "the rule's own gpu resource must stay in charge"
    assert evaluate(recon["mem_mb"], "sense", attempt=2) == 2 * evaluate(recon["mem_mb"], "sense")


def test_site_settings_reach_only_the_gpu_jobs() -> None:
    p = load_profile(SLURM, {"CARDIOMM_SLURM_ACCOUNT": "lab1", "CARDIOMM_SLURM_PARTITION": "cpu",
                             "CARDIOMM_SLURM_GPU_PARTITION": "gpu", "CARDIOMM_SLURM_GPU_MODEL": "a100"})
    defaults = dict(item.split("=", 1) for item in p["default-resources"])
    assert eval(defaults["slurm_account"]) == "lab1" and eval(defaults["slurm_partition"]) == "cpu"  # noqa: S307
    recon = rule_resources(p, "recon")
    for method, partition, model in (("cardiomm", "gpu", "a100"), ("varnet", "gpu", "a100"),
                                     ("sense", "cpu", ""), ("zerofilled", "cpu", "")):
        assert evaluate(recon["slurm_partition"], method) == partition
        # an empty gpu_model is falsy for the plugin: no `--gpus=a100:0` on CPU jobs
        assert evaluate(recon["gpu_model"], method) == model
    train = rule_resources(p, "train_recon")
    assert eval(train["gpu_model"]) == "a100" and eval(train["slurm_partition"]) == "gpu"  # noqa: S307
    assert "cpus_per_task" not in train, "cpus_per_task would replace --cpus-per-gpu on a GPU job"


def test_cpu_only_cluster_requests_no_gpu() -> None:
    p = load_profile(SLURM, {"CARDIOMM_SLURM_GPUS": "0", "CARDIOMM_SLURM_GPU_MODEL": "a100"})
    recon = rule_resources(p, "recon")
    assert evaluate(recon["gpu"], "cardiomm") == 0 and evaluate(recon["gpu"], "sense") == 0
    assert "gpu_model" not in recon
    for rule in ("train_recon", "train_segmentation"):
        res = rule_resources(p, rule)
        assert res["gpu"] == "0" and "cpus_per_gpu" not in res and "gpu_model" not in res


def test_slurm_extra_never_carries_gpu_flags() -> None:
    # the plugin rejects --gres/--gpus in slurm_extra; GPU requests must use gpu / gpu_model
    text = SLURM.read_text()
    assert not re.search(r"slurm_extra:.*--(gres|gpus)", text)


def test_conda_env_pins_match_requirements() -> None:
    env = yaml.safe_load(ENV.read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    reqs = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert sorted(pip, key=str.lower) == sorted(reqs, key=str.lower), "envs/cardiomm.yaml drifted from requirements.txt"


def _job_rules(config: dict, tmp_path: Path) -> list[str]:
    """The rules of the workflow under ``config`` that become cluster jobs (not local, with something to run)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings import types as st

    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    with SnakemakeApi(st.OutputSettings(quiet={st.Quietness.ALL})) as api:
        wapi = api.workflow(resource_settings=st.ResourceSettings(), snakefile=REPO / "Snakefile",
                            workdir=REPO, config_settings=st.ConfigSettings(configfiles=[cfg]))
        wapi.dag()
        wf = wapi._workflow
        return [r.name for r in wf.rules if r.name not in wf._localrules and not r.norun]


def test_every_cluster_job_has_limits_also_per_modality_group(tmp_path: Path) -> None:
    """A rule without a `set-resources` entry gets the 2 GB / 30 min floor. On a real tree where one subject
    lacks a modality the per-subject rules are named `<rule>_setN` (Plan.groups), and must keep their limits."""
    from cardiomm.phantom.generate import PhantomConfig, cohort_specs, write_subject

    small = PhantomConfig(nx=48, ny=40, dx=4.5, dy=4.5, nt=3, nz=2, gap=12.0, coils_raw=(4,), coils=4,
                          counts={"train": 0, "val": 0, "test": 1, "external": 0}, seed=5)
    root = tmp_path / "real"
    write_subject(cohort_specs(small)[0], small, root)
    cine = root / "MultiCoil" / "Cine" / "TrainingSet" / "FullSample"
    import shutil

    shutil.copytree(cine / "P001", cine / "P002")  # P002: cine only -> two groups
    config = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    config["data"] = {"root": str(root), "synthetic": False,
                      "defaults": {"dx_mm": 4.5, "dy_mm": 4.5, "thickness_mm": 8, "gap_mm": 12,
                                   "frame_interval_s": 0.1}}
    rules = _job_rules(config, tmp_path)
    assert "recon_set1" in rules and "recon_set2" in rules and "coilmaps_set2" in rules, rules
    p = load_profile(SLURM, {"CARDIOMM_SLURM_GPU_PARTITION": "gpu"})
    named = {item.split(":", 1)[0] for item in p["set-resources"]}
    assert not set(rules) - named, f"jobs without limits in profiles/slurm: {sorted(set(rules) - named)}"
    for rule in rules:
        base = re.sub(r"_set\d+$", "", rule)
        assert rule_resources(p, rule) == rule_resources(p, base), rule


def test_the_profile_sends_every_neural_method_to_the_gpu_partition() -> None:
    from cardiomm import workflow as wf

    p = load_profile(SLURM, {"CARDIOMM_SLURM_PARTITION": "cpu", "CARDIOMM_SLURM_GPU_PARTITION": "gpu",
                             "CARDIOMM_SLURM_GPUS": "2"})
    recon = rule_resources(p, "recon")
    for method in wf.METHODS:
        neural = method in wf.NEURAL
        assert evaluate(recon["slurm_partition"], method) == ("gpu" if neural else "cpu"), method
        assert evaluate(recon["gpu"], method) == (2 if neural else 0), method
