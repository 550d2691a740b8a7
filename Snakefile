# cardiomm: raw multi-coil CMR k-space -> undersampling -> reconstruction -> segmentation -> quantification
# -> agreement audit. Rules are thin: each calls one function of the `cardiomm` package (cardiomm/stages.py).

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "cardiomm/schema/config.schema.json")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/undersample.smk"
include: "rules/recon.smk"
include: "rules/segment.smk"
include: "rules/quantify.smk"
include: "rules/compare.smk"
include: "rules/report.smk"
include: "rules/train.smk"
include: "rules/tune.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
