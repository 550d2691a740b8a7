"""Official CardioMM sentences, and the CLIP text encoder read from a local folder (a tiny random model)."""

from __future__ import annotations

import pytest
import torch

from cardiomm.recon.learned.text_prompts import (
    ClipFolderError,
    ClipTextEncoder,
    import_transformers,
    metadata_sentence,
    official_mask_type,
    sentences_for,
    undersampling_sentence,
)

try:  # before anything else imports transformers (see import_transformers)
    transformers = import_transformers()
except ImportError:  # pragma: no cover
    pytest.skip("transformers is not installed", allow_module_level=True)

from clip_folder import tiny_clip_folder as _tiny_clip_folder  # noqa: E402


def test_sentences_follow_the_official_templates():
    meta = {"modality": "cine", "view": "sax", "vendor": "Siemens", "scanner": "Vida", "field_strength_T": 3.0}
    assert metadata_sentence(meta) == ("Adult cardiac MRI reconstruction.Vendor: 3.0T, Siemens, Vida. "
                                       "Modality: cine, short-axis.")
    assert undersampling_sentence("Uniform8") == "Undersampling: 8x uniform."
    assert undersampling_sentence("ktGaussian16") == "Undersampling: 16x random."
    assert undersampling_sentence("ktRadial24") == "Undersampling: 24x radial."
    assert official_mask_type("ktRadial4") == "radial"
    t1 = {"modality": "t1map", "vendor": "UIH", "scanner": "uMR 790", "field_strength_T": 1.5}
    assert metadata_sentence(t1) == ("Adult cardiac MRI reconstruction.Vendor: 1.5T, UIH, uMR 790. "
                                     "Modality: T1 mapping, short-axis.")
    unknown = {"modality": "cine", "view": "weird", "field_strength_T": float("nan")}
    assert sentences_for(unknown, "Uniform4") == (
        "Adult cardiac MRI reconstruction.Vendor: unknown, unknown, unknown. Modality: cine, unknown.",
        "Undersampling: 4x uniform.")
    with pytest.raises(ValueError, match="invalid mask name"):
        undersampling_sentence("Spiral8")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clipdir") / "clip-vit-base-patch16"
    model, tok = _tiny_clip_folder(folder)
    return folder, model, tok


def test_clip_text_encoder_loads_the_local_folder(clip):
    folder, model, tok = clip
    enc = ClipTextEncoder(folder)
    texts = list(sentences_for({"modality": "cine", "view": "sax", "vendor": "Siemens", "scanner": "Vida",
                                "field_strength_T": 3.0}, "ktGaussian8"))
    got = enc.encode(texts + texts[:1])
    assert got.shape == (3, 24) and enc.dim == 24
    with torch.no_grad():  # the official path: CLIPModel.get_text_features on the tokenised sentence
        for i, t in enumerate(texts):
            ids = tok([t], padding=True, truncation=True, max_length=77, return_tensors="pt")
            ref = model.get_text_features(**ids)
            ref = ref if isinstance(ref, torch.Tensor) else ref.pooler_output
            assert torch.allclose(got[i], ref[0], atol=1e-5)
    assert torch.equal(got[0], got[2])
    assert not torch.allclose(got[0], got[1])


def test_missing_or_wrong_clip_folder_says_what_to_put_where(tmp_path):
    with pytest.raises(ClipFolderError, match="published.clip_dir is not set.*clip-vit-base-patch16"):
        ClipTextEncoder(None)
    with pytest.raises(ClipFolderError, match=r"nowhere' is not a folder.*config\.json"):
        ClipTextEncoder(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(ClipFolderError, match=r"lacks \['vocab.json', 'merges.txt', 'model.safetensors or "
                                              r"pytorch_model.bin'\]"):
        ClipTextEncoder(tmp_path / "half")


def test_official_cardiomm_series_with_clip_prompts(clip):
    """The pipeline path: sentences -> CLIP folder -> heads -> network, equal to a direct call."""
    import numpy as np

    from cardiomm.recon.learned.infer_published import reconstruct_series_published
    from cardiomm.recon.learned.networks.cardiomm_official import CardioMMOfficial, CardioMMOfficialConfig

    folder = clip[0]
    cfg = CardioMMOfficialConfig(num_cascades=1, num_adj_slices=3, n_feat0=4, feature_dim=(6, 8, 12),
                                 prompt_dim=(2, 4, 4), sens_n_feat0=4, sens_feature_dim=(4, 6, 8),
                                 sens_prompt_dim=(2, 2, 4), len_prompt=(2, 2, 2), prompt_size=(8, 4, 2),
                                 n_enc_cab=(1, 1, 1), n_dec_cab=(1, 1, 1), n_skip_cab=(1, 1, 1), n_bottleneck_cab=1,
                                 llm_model_dim=24, llm_embd_dim=8)
    torch.manual_seed(0)
    net = CardioMMOfficial(cfg).eval()
    rng = np.random.default_rng(1)
    nt, nc, ny, nx = 3, 2, 16, 24
    kus = (rng.standard_normal((nt, 1, nc, ny, nx)) + 1j * rng.standard_normal((nt, 1, nc, ny, nx))).astype("complex64")
    mask = np.zeros((nt, ny, nx), dtype=np.uint8)
    mask[:, ::2] = 1
    meta = {"modality": "cine", "view": "sax", "vendor": "Siemens", "scanner": "Vida", "field_strength_T": 3.0}
    out = reconstruct_series_published(net, kus * mask[:, None, None], mask, "Uniform4", meta, folder)
    assert out.shape == (nt, 1, ny, nx) and np.isfinite(out).all()
    texts = ClipTextEncoder(folder).encode(list(sentences_for(meta, "Uniform4")))
    k = torch.from_numpy((kus * mask[:, None, None])[[0, 1, 2], 0].transpose(0, 1, 3, 2).reshape(3 * nc, nx, ny))[None]
    m = torch.from_numpy(np.repeat(mask.transpose(0, 2, 1)[:, None], nc, 1).reshape(3 * nc, nx, ny) > 0)[None]
    with torch.no_grad():
        ref = net(k, m, 20, False, texts[0:1], texts[1:2])[0].numpy().T
    np.testing.assert_allclose(out[1, 0], ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    with pytest.raises(ClipFolderError, match="clip_dir is not set"):
        reconstruct_series_published(net, kus, mask, "Uniform4", meta, None)


def test_a_series_fixes_its_own_view_in_both_prompt_kinds():
    from cardiomm.conventions import series_meta
    from cardiomm.recon.learned.prompts import VIEW_VOCAB, encode_scan

    subject = {"view": "sax", "vendor": "Siemens", "scanner": "Vida", "field_strength_T": 3.0}
    cine, lax, ch4 = (series_meta(subject, m) for m in ("cine", "cine_lax", "cine_lax_4ch"))
    assert cine["view"] == "sax" and lax["view"] == "lax" and ch4["view"] == "4ch" and subject["view"] == "sax"
    assert series_meta({"view": "lax"}, "t1map")["view"] == "lax"  # the maps keep the subject's plane
    assert encode_scan(lax)[1] == VIEW_VOCAB.index("lax") + encode_scan(cine)[1] - VIEW_VOCAB.index("sax")
    assert metadata_sentence(cine).endswith("short-axis.") and metadata_sentence(ch4).endswith("long-axis.")
