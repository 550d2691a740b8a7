# DICOM results (part of rule all; dicom.enabled): per subject, every reconstructed series as MR images (one series
# per modality x method x mask, frame timing and the input's patient geometry), the segmentations as DICOM-SEG
# referencing them (LV blood pool, LV myocardium, RV blood pool with their SNOMED codes), the T1/T2/T1rho maps as
# Parametric Maps (ms). Stable UIDs derived from subject, series and content; dicom.anonymise respected.
# cardiomm/io/dicom.py; one job per subject (seconds).

if PLAN.dicom_enabled:

    rule dicom:
        input:
            unpack(lambda wc: PLAN.dicom_inputs(wc.subject)),
        output:
            directory(PLAN.dicom_dir()),
        log:
            PLAN.log("dicom", "{subject}"),
        message:
            "[dicom] DICOM images, segmentations and maps of {wildcards.subject}"
        benchmark:
            PLAN.bench("dicom", "{subject}")
        params:
            subject=lambda wc: PLAN.subject(wc.subject),
            dicom=config["dicom"],
        resources:
            mem_mb=3000,
            runtime=10,
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/dicom.py"
