"""Tiny foreign-model folders written by the tests: a MONAI bundle and an nnU-Net v2 model folder.

The bundle mirrors the structure of MONAI model-zoo ``ventricular_short_axis_3label``
(``configs/inference.json``: ``network_def`` a 2D ``UNet`` with 1 input, 4 outputs, strides
``[2, 2, 2, 2]`` and 2 residual units; preprocessing ``LoadImaged`` -> ``EnsureChannelFirstd`` ->
``ScaleIntensityd`` -> ``EnsureTyped``; ``SliceInferer`` with ``roi_size`` 256x256; postprocessing
``Activationsd`` softmax -> ``Invertd`` -> ``AsDiscreted`` argmax -> ``SaveImaged``; its
``metadata.json`` ``channel_def`` 1 lv_pool, 2 myocardium, 3 rv_pool), at a small width and random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

BUNDLE_CHANNELS = [2, 4, 8, 8, 8]  # the real bundle: [16, 32, 64, 128, 256]


def write_bundle(root: Path, channel_def: dict | None = None, seed: int = 0) -> Path:
    """Write a bundle folder ``root`` (configs/inference.json, configs/metadata.json, models/model.pt)."""
    from monai.networks.nets import UNet

    network_def = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 4,
                   "channels": BUNDLE_CHANNELS, "strides": [2, 2, 2, 2], "num_res_units": 2}
    inference = {
        "imports": ["$import glob"],
        "bundle_root": ".",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "ckpt_path": "$@bundle_root + '/models/model.pt'",
        "dataset_dir": "/workspace/data",
        "output_dir": "./output",
        "datalist": "$list(sorted(glob.glob(@dataset_dir + '/*.nii*')))",
        "network_def": network_def,
        "network": "$@network_def.to(@device)",
        "preprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "LoadImaged", "keys": "image", "image_only": False},
            {"_target_": "EnsureChannelFirstd", "keys": "image"},
            {"_target_": "ScaleIntensityd", "keys": "image"},
            {"_target_": "EnsureTyped", "keys": "image", "device": "@device"}]},
        "dataset": {"_target_": "Dataset", "data": "$[{'image': i} for i in @datalist]",
                    "transform": "@preprocessing"},
        "dataloader": {"_target_": "DataLoader", "dataset": "@dataset", "batch_size": 1, "shuffle": False,
                       "num_workers": 0},
        "inferer": {"_target_": "SliceInferer", "roi_size": [256, 256], "spatial_dim": 2},
        "postprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "Activationsd", "keys": "pred", "softmax": True},
            {"_target_": "Invertd", "keys": "pred", "transform": "@preprocessing", "orig_keys": "image",
             "meta_key_postfix": "meta_dict", "nearest_interp": False, "to_tensor": True},
            {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
            {"_target_": "SaveImaged", "keys": "pred", "meta_keys": "pred_meta_dict", "output_dir": "@output_dir"}]},
        "handlers": [{"_target_": "CheckpointLoader", "load_path": "@ckpt_path", "load_dict": {"model": "@network"}}],
        "evaluator": {"_target_": "SupervisedEvaluator", "device": "@device", "val_data_loader": "@dataloader",
                      "network": "@network", "inferer": "@inferer", "postprocessing": "@postprocessing",
                      "val_handlers": "@handlers"},
        "evaluating": ["$@evaluator.run()"],
    }
    cdef = channel_def or {"0": "background", "1": "lv_pool", "2": "myocardium", "3": "rv_pool"}
    metadata = {
        "version": "0.0.1-test", "task": "tiny random-weight stand-in for ventricular_short_axis_3label",
        "network_data_format": {
            "inputs": {"image": {"type": "image", "format": "magnitude", "modality": "MR", "num_channels": 1,
                                 "spatial_shape": [256, 256], "dtype": "float32", "value_range": [],
                                 "is_patch_data": False, "channel_def": {"0": "image"}}},
            "outputs": {"pred": {"type": "image", "format": "segmentation", "num_channels": 4,
                                 "spatial_shape": [256, 256], "dtype": "float32", "value_range": [0, 3],
                                 "is_patch_data": False, "channel_def": cdef}}},
    }
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    (root / "configs" / "inference.json").write_text(json.dumps(inference, indent=2))
    (root / "configs" / "metadata.json").write_text(json.dumps(metadata, indent=2))
    torch.manual_seed(seed)
    net = UNet(**{k: v for k, v in network_def.items() if k != "_target_"})
    torch.save(net.state_dict(), root / "models" / "model.pt")
    return root


# ------------------------------------------------------------------------------------------------ nnU-Net v2
# A minimal nnU-Net v2 trained-model folder: exactly the fields nnunetv2 2.8.1's nnUNetPredictor reads
# (PlansManager / ConfigurationManager / DefaultPreprocessor / LabelManager), one "2d" configuration
# with a 3-stage PlainConvUNet of width 4-16, and a fold_0/checkpoint_final.pth holding the keys that
# initialize_from_trained_model_folder reads (trainer_name, init_args.configuration,
# inference_allowed_mirroring_axes, network_weights). The network is built by nnU-Net's own
# nnUNetTrainer.build_network_architecture from these plans, with random weights (no training).

NNUNET_SPACING = [2.0, 2.0]  # the plans' 2d target spacing (mm): inputs at other spacings are resampled


def nnunet_plans(spacing: list[float] | None = None) -> dict:
    """A minimal ``plans.json`` with one ``2d`` configuration."""
    resample = "resample_data_or_seg_to_shape"
    kw = {"order_z": 0, "force_separate_z": None}
    conf = {
        "data_identifier": "nnUNetPlans_2d", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
        "patch_size": [32, 32], "median_image_size_in_voxels": [48.0, 48.0], "spacing": spacing or NNUNET_SPACING,
        "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [False],
        "resampling_fn_data": resample, "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, **kw},
        "resampling_fn_seg": resample, "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, **kw},
        "resampling_fn_probabilities": resample,
        "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, **kw},
        "architecture": {
            "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "arch_kwargs": {
                "n_stages": 3, "features_per_stage": [4, 8, 16], "conv_op": "torch.nn.modules.conv.Conv2d",
                "kernel_sizes": [[3, 3]] * 3, "strides": [[1, 1], [2, 2], [2, 2]], "n_conv_per_stage": [2, 2, 2],
                "n_conv_per_stage_decoder": [2, 2], "conv_bias": True,
                "norm_op": "torch.nn.modules.instancenorm.InstanceNorm2d",
                "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None, "dropout_op_kwargs": None,
                "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True}},
            "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]},
        "batch_dice": True,
    }
    return {
        "dataset_name": "Dataset999_CardiommTiny", "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [10.0, 2.0, 2.0], "original_median_shape_after_transp": [6, 48, 48],
        "image_reader_writer": "SimpleITKIO", "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "configurations": {"2d": conf}, "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {"0": {
            "max": 1.0, "mean": 0.5, "median": 0.5, "min": 0.0, "percentile_00_5": 0.0, "percentile_99_5": 1.0,
            "std": 0.25}},
    }


def write_nnunet_folder(root: Path, labels: dict | None = None, seed: int = 0) -> Path:
    """Write ``dataset.json``, ``plans.json`` and ``fold_0/checkpoint_final.pth`` under ``root``.

    ``labels`` defaults to ACDC's as nnU-Net's ACDC dataset names them (1 RV, 2 MLV, 3 LVC).
    """
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    dataset = {"channel_names": {"0": "cineMRI"}, "labels": labels or {"background": 0, "RV": 1, "MLV": 2, "LVC": 3},
               "numTraining": 0, "file_ending": ".nii.gz"}
    plans = nnunet_plans()
    pm = PlansManager(plans)
    torch.manual_seed(seed)
    net = nnUNetTrainer.build_network_architecture(pm, pm.get_configuration("2d"), 1, len(dataset["labels"]),
                                                   enable_deep_supervision=False)
    (root / "fold_0").mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(dataset, indent=2))
    (root / "plans.json").write_text(json.dumps(plans, indent=2))
    torch.save({"network_weights": net.state_dict(), "trainer_name": "nnUNetTrainer",
                "init_args": {"plans": plans, "configuration": "2d", "fold": 0, "dataset_json": dataset},
                "inference_allowed_mirroring_axes": (0, 1)}, root / "fold_0" / "checkpoint_final.pth")
    return root
