# Reconstruction: the fully sampled reference (RSS) and every method x mask, written as the challenge's
# `reconimage` .mat and as NIfTI with true geometry. Neural methods use the GPU when present.
# One job per subject x method x mask, so that a cluster spreads the (GPU) work over masks; a job loads its
# model once for its modalities. The reference is one job per subject.


for _suffix, _ids, _mods in GROUPS:

    rule:
        name:
            f"reference{_suffix}"
        wildcard_constraints:
            subject=group_subjects(_ids),
        input:
            kspace_inputs,
        output:
            **PLAN.recon_outputs(wf.REFERENCE, wf.FULLY_SAMPLED, mods=_mods),
        log:
            PLAN.log("recon", wf.REFERENCE, "{subject}"),
        message:
            "[recon] fully sampled reference of {wildcards.subject}"
        benchmark:
            PLAN.bench("reference", "{subject}")
        params:
            subject=lambda wc: PLAN.subject(wc.subject),
        resources:
            mem_mb=3000,
            runtime=10,
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/reference.py"


    # the null control: the repeated, fully sampled acquisition made like the reference (cardiomm.methods: rescan)
    if wf.RESCAN in PLAN.methods:

        rule:
            name:
                f"rescan{_suffix}"
            wildcard_constraints:
                subject=group_subjects(_ids),
            input:
                unpack(lambda wc: PLAN.rescan_inputs(wc.subject)),
            output:
                **PLAN.recon_outputs(wf.RESCAN, wf.FULLY_SAMPLED, mods=_mods),
            log:
                PLAN.log("recon", wf.RESCAN, "{subject}"),
            message:
                "[recon] null control (rescan) of {wildcards.subject}"
            benchmark:
                PLAN.bench("recon", wf.RESCAN, wf.FULLY_SAMPLED, "{subject}")
            params:
                subject=lambda wc: PLAN.subject(wc.subject),
                method=wf.RESCAN,
            resources:
                mem_mb=3000,
                runtime=10,
            conda:
                "../envs/cardiomm.yaml"
            script:
                "../workflow_scripts/control.py"


    # ESPIRiT maps for the classical methods, once per subject: the maps depend only on the ACS data, which the
    # masks share (every mask of the synthetic cohort has the same 20 central lines), so one calibration per slice
    # serves every mask and every classical method (a copy is a hard link).
    rule:
        name:
            f"coilmaps{_suffix}"
        wildcard_constraints:
            subject=group_subjects(_ids),
        input:
            **PLAN.undersample_outputs(mods=_mods),
        output:
            **PLAN.coilmaps_outputs(mods=_mods),
        log:
            PLAN.log("coilmaps", "{subject}"),
        message:
            "[coilmaps] ESPIRiT maps of {wildcards.subject} for the classical methods"
        benchmark:
            PLAN.bench("coilmaps", "{subject}")
        params:
            subject=lambda wc: PLAN.subject(wc.subject),
        threads: 1
        resources:
            mem_mb=3000,
            runtime=10,
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/coilmaps.py"


    rule:
        name:
            f"recon{_suffix}"
        wildcard_constraints:
            subject=group_subjects(_ids),
        input:
            unpack(_recon_inputs),
        output:
            **PLAN.recon_outputs("{method}", "{mask}", mods=_mods),
        log:
            PLAN.log("recon", "{method}", "{mask}", "{subject}"),
        message:
            "[recon] {wildcards.method} on {wildcards.subject}, {wildcards.mask} (progress: {log})"
        benchmark:
            PLAN.bench("recon", "{method}", "{mask}", "{subject}")
        params:
            subject=lambda wc: PLAN.subject(wc.subject),
            recon=lambda wc: PLAN.recon_params(wc.method),  # ReconParams.from_config
        threads: 1
        resources:
            mem_mb=6000,
            runtime=30,
            gpu=lambda wc: 1 if wc.method in wf.NEURAL else 0,
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/recon.py"
