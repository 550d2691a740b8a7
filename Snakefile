# cardiomm: raw multi-coil CMR k-space -> undersampling -> reconstruction -> segmentation -> quantification
# -> agreement audit. Rules are thin: each calls one function of the `cardiomm` package (cardiomm/stages.py).

from snakemake.utils import min_version

from cardiomm.config import validate_config

min_version("9.0")


configfile: "config.yaml"


# cardiomm/schema/config.schema.json: fills every default in; an unknown or misspelt key, a wrong type or value
# stops the run here with one line naming the key (and, for an unknown key, the allowed ones)
validate_config(config)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/ingest.smk"
include: "rules/undersample.smk"
include: "rules/recon.smk"
include: "rules/segment.smk"
include: "rules/quantify.smk"
include: "rules/compare.smk"
include: "rules/report.smk"
include: "rules/dicom.smk"
include: "rules/train.smk"
include: "rules/tune.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
