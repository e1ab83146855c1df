"""Import published Graphormer weights: HuggingFace `save_pretrained` folders and official fairseq checkpoints.

    graphormer convert source=hf path=<folder> output=<ckpt>
    graphormer convert source=fairseq path=<checkpoint.pt> output=<ckpt>

Both sources use the v2 module layout, so one name table maps them onto ours (`_RENAMES`). The conventions
that differ (spec §1, §2.2, §4.1, §4.2) are handled here:

* atom table: HF indexes node features one row higher than official (v + 3 + 512 c vs v + 2 + 512 c);
  ours follows official, so our row r is HF row r + 1.
* attention masking (`spatial_pos_max`): the official collator masks pairs with SPD >= spatial_pos_max,
  the HF collator pairs with SPD + 1 >= spatial_pos_max (its default 20 masks SPD >= 19, unreachable pairs
  included). Our model masks SPD >= `max_spatial_distance`; None = no masking.
* path features: every released Microsoft checkpoint was trained with the pre-fix paths that drop node 0
  (spec §4.1), so fairseq imports set `legacy_drop_node0=True` by default; the HF port has the fix.
* dead parameters are dropped: `masked_lm_pooler` (fairseq) and the pre-LN encoder's never-applied
  `graph_encoder.final_layer_norm`.
"""

from __future__ import annotations

import json
import pickle
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from graphormer import TASKS
from graphormer.errors import ConvertError  # noqa: F401  (re-exported: callers import it from here)
from graphormer.graph import UNREACHABLE
from graphormer.model.bias import NUM_SPATIAL
from graphormer.model.molecule import MoleculeModel

SOURCES = ("hf", "fairseq")
HF_COLLATOR_SPATIAL_POS_MAX = 20  # GraphormerDataCollator's own default
OFFICIAL_SPATIAL_POS_MAX = 1024  # the official task's default

# Source name prefix (fairseq layout; HF head names are renamed to these first) -> our name prefix.
_RENAMES = (
    ("encoder.graph_encoder.graph_node_feature.", "node_embedding."),
    ("encoder.graph_encoder.graph_attn_bias.", "attn_bias."),
    ("encoder.graph_encoder.emb_layer_norm.", "embed_layer_norm."),
    ("encoder.graph_encoder.layers.", "layers."),
    ("encoder.lm_head_transform_weight.", "head_transform."),
    ("encoder.layer_norm.", "head_layer_norm."),
    ("encoder.embed_out.", "embed_out."),
    ("encoder.lm_output_learned_bias", "lm_output_learned_bias"),
)
# Parameters the source models create but never use.
_DEAD = ("encoder.masked_lm_pooler.", "encoder.graph_encoder.final_layer_norm.")
# HF GraphormerForGraphClassification head -> fairseq names.
_HF_HEAD = {"classifier.classifier.weight": "encoder.embed_out.weight",
            "classifier.lm_output_learned_bias": "encoder.lm_output_learned_bias"}
_INPUT_TABLES = ("atom_encoder", "in_degree_encoder", "out_degree_encoder", "graph_token")
# Table sizes our model hard-wires (reference defaults): source config key -> expected value.
_FIXED_SIZES = {"num_atoms": 512 * 9, "num_edges": 512 * 3, "num_in_degree": 512, "num_out_degree": 512,
                "num_spatial": NUM_SPATIAL}


@dataclass
class Source:
    """What a reader extracts: weights under fairseq names plus everything needed to rebuild the model."""

    state: dict[str, torch.Tensor]
    arch: dict[str, Any]  # Graphormer constructor arguments (num_outputs excluded)
    num_outputs: int
    max_spatial_distance: int | None
    legacy_drop_node0: bool
    default_task: str | None  # None: ambiguous, the user must say
    atom_row_shift: int = 0  # rows to drop from the top of the source atom table
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- helpers
def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Attribute or item access for Namespace / dict / DictConfig / stub objects."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _first(key: str, *sources: Any, default: Any = None) -> Any:
    for source in sources:
        value = _get(source, key)
        if value is not None:
            return value
    return default


def max_spatial_distance_from(spatial_pos_max: int, shifted: bool) -> int | None:
    """Our `max_spatial_distance` (mask SPD >= value) for a collator's `spatial_pos_max`.

    shifted: the collator compares SPD + 1 (HF) instead of SPD (official). None when nothing is masked.
    """
    spatial_pos_max = int(spatial_pos_max)
    if spatial_pos_max < 1:
        raise ConvertError(f"spatial_pos_max={spatial_pos_max} would mask every pair; it must be >= 1")
    threshold = spatial_pos_max - 1 if shifted else spatial_pos_max
    return None if threshold > UNREACHABLE else threshold  # 510: the largest SPD a batch can hold


def _check_sizes(cfg: Any, where: str) -> None:
    for key, expected in _FIXED_SIZES.items():
        value = _get(cfg, key)
        if value is not None and int(value) != expected:
            raise ConvertError(f"{where}: {key}={value} is not supported (this model uses {expected})")


def _check_supported(edge_type: Any, activation: Any, where: str) -> None:
    if edge_type not in (None, "multi_hop"):
        raise ConvertError(f"{where}: edge_type={edge_type!r} is not supported (only 'multi_hop')")
    if activation not in (None, "gelu"):
        raise ConvertError(f"{where}: activation {activation!r} is not supported (only exact 'gelu')")


def _shape_arch(state: Mapping[str, torch.Tensor], where: str) -> dict[str, Any]:
    """Sizes read off the weights themselves (they win over any stored config)."""
    prefix = "encoder.graph_encoder."
    try:
        embed_dim = state[prefix + "graph_node_feature.graph_token.weight"].shape[1]
        num_heads = state[prefix + "graph_attn_bias.spatial_pos_encoder.weight"].shape[1]
        edge_dis = state[prefix + "graph_attn_bias.edge_dis_encoder.weight"].shape[0]
        ffn_dim = state[prefix + "layers.0.fc1.weight"].shape[0]
    except KeyError as err:
        raise ConvertError(f"{where}: not a Graphormer state dict (missing {err.args[0]})") from None
    layers = {int(k[len(prefix + "layers."):].split(".")[0]) for k in state if k.startswith(prefix + "layers.")}
    if layers != set(range(len(layers))):
        raise ConvertError(f"{where}: encoder layers are not numbered 0..{len(layers) - 1}")
    if edge_dis % (num_heads * num_heads):
        raise ConvertError(f"{where}: edge_dis_encoder has {edge_dis} rows, not a multiple of heads^2")
    return dict(num_layers=len(layers), embed_dim=embed_dim, ffn_dim=ffn_dim, num_heads=num_heads,
                num_edge_dis=edge_dis // (num_heads * num_heads),
                embed_layernorm=prefix + "emb_layer_norm.weight" in state)


def _num_outputs(state: Mapping[str, torch.Tensor], where: str) -> int:
    if "encoder.embed_out.weight" not in state or "encoder.lm_output_learned_bias" not in state:
        raise ConvertError(f"{where}: the checkpoint has no output layer (embed_out / lm_output_learned_bias)")
    return int(state["encoder.embed_out.weight"].shape[0])


# ----------------------------------------------------------------------------------------------- HF
def _load_hf_weights(folder: Path) -> dict[str, torch.Tensor]:
    """model.safetensors / pytorch_model.bin, sharded or not."""
    for name, loader in (("model.safetensors", _load_safetensors), ("pytorch_model.bin", _load_torch_weights)):
        index = folder / f"{name}.index.json"
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            state: dict[str, torch.Tensor] = {}
            for shard in shards:
                state.update(loader(folder / shard))
            return state
        if (folder / name).is_file():
            return loader(folder / name)
    raise ConvertError(f"{folder}: no model.safetensors or pytorch_model.bin")


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file  # a dependency of the package

    return load_file(str(path))


def _load_torch_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ConvertError(f"{path}: not a readable weight file ({type(err).__name__}: {err})") from None


def _fold_input_scaling(state: dict[str, torch.Tensor], scale: float | None) -> None:
    """HF `embed_scale` and the q-noise input Linear act on the summed input embeddings; both are
    linear, so they fold exactly into the four input tables (our model has neither)."""
    linear = state.pop("encoder.graph_encoder.quant_noise.weight", None)
    if scale is None and linear is None:
        return
    for name in _INPUT_TABLES:
        key = f"encoder.graph_encoder.graph_node_feature.{name}.weight"
        table = state[key] * (1.0 if scale is None else float(scale))
        state[key] = table if linear is None else table @ linear.T


def read_hf(path: str | Path, spatial_pos_max: int | None = None) -> Source:
    """A `GraphormerForGraphClassification.save_pretrained` folder (config.json + weights)."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ConvertError(f"{folder}: not a HuggingFace model folder (no config.json)")
    cfg = json.loads((folder / "config.json").read_text())
    where = str(folder)
    if cfg.get("model_type") not in (None, "graphormer"):
        raise ConvertError(f"{where}: model_type={cfg.get('model_type')!r}, expected 'graphormer'")
    _check_sizes(cfg, where)
    max_hops = int(cfg.get("multi_hop_max_dist", 5))
    _check_supported(cfg.get("edge_type"), cfg.get("activation_fn"), where)
    if cfg.get("share_input_output_embed"):
        raise ConvertError(f"{where}: share_input_output_embed=True is not supported")
    for key in ("kdim", "vdim"):
        if cfg.get(key) not in (None, cfg.get("embedding_dim")):
            raise ConvertError(f"{where}: {key}={cfg[key]} differs from embedding_dim (not supported)")

    raw = _load_hf_weights(folder)
    state = {_HF_HEAD.get(k, k): v.float() for k, v in raw.items()}
    if not any(k.startswith("encoder.graph_encoder.") for k in state):
        raise ConvertError(f"{where}: expected GraphormerForGraphClassification weights (encoder.graph_encoder.*)")
    if cfg.get("bias") is False:  # no attention biases in the source: ours are zero
        for key in [k for k in state if k.endswith("self_attn.q_proj.weight")]:
            for proj in "qkvo":
                name = key.replace("q_proj.weight", "out_proj.bias" if proj == "o" else f"{proj}_proj.bias")
                state.setdefault(name, torch.zeros(state[key].shape[0]))
    _fold_input_scaling(state, cfg.get("embed_scale"))

    arch = _shape_arch(state, where)
    if bool(cfg.get("pre_layernorm", False)) != ("encoder.graph_encoder.final_layer_norm.weight" in state):
        raise ConvertError(f"{where}: config pre_layernorm={cfg.get('pre_layernorm')} does not match the weights")
    arch.update(pre_layernorm=bool(cfg.get("pre_layernorm", False)), max_hops=max_hops,
                dropout=float(cfg.get("dropout", 0.1)), attention_dropout=float(cfg.get("attention_dropout", 0.1)),
                activation_dropout=float(cfg.get("activation_dropout", 0.1)))
    num_outputs = _num_outputs(state, where)
    spm = HF_COLLATOR_SPATIAL_POS_MAX if spatial_pos_max is None else spatial_pos_max
    problem = {"regression": "regression", "single_label_classification": "multiclass",
               "multi_label_classification": "classification"}.get(cfg.get("problem_type"))
    default_task = problem or ("regression" if num_outputs == 1 else None)
    return Source(state=state, arch=arch, num_outputs=num_outputs,
                  max_spatial_distance=max_spatial_distance_from(spm, shifted=True), legacy_drop_node0=False,
                  default_task=default_task, atom_row_shift=1,
                  notes=[f"HF collator spatial_pos_max={spm} (masks SPD >= {spm - 1})"])


# ------------------------------------------------------------------------------------------ fairseq
class _Stub:
    """Stands in for classes of packages that are not installed (fairseq, ...) while unpickling."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.state = state

    def __getitem__(self, key):
        return self.__dict__[key]

    def get(self, key, default=None):
        return self.__dict__.get(key, default)


class _TolerantUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Stub,), {"__module__": "graphormer.inference.convert._stubs"})


# torch.load wraps `pickle_module.Unpickler`; this module-like object swaps in the tolerant one.
_tolerant_pickle = types.SimpleNamespace(Unpickler=_TolerantUnpickler, load=pickle.load,
                                         __name__="graphormer_tolerant_pickle")


def _load_fairseq(path: Path) -> dict:
    if not path.is_file():
        raise ConvertError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (ImportError, AttributeError):  # pickled objects from fairseq itself, which is not installed
        pass
    except Exception as err:
        raise ConvertError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_tolerant_pickle)


def _criterion_name(ckpt: dict, args: Any) -> str:
    """fairseq >= 0.10 stores `cfg.criterion._name`; older checkpoints `args.criterion`."""
    criterion = _get(_get(ckpt, "cfg"), "criterion")
    return str(_get(criterion, "_name") or _get(args, "criterion") or "")


def read_fairseq(path: str | Path, spatial_pos_max: int | None = None) -> Source:
    """An official checkpoint: a dict with `model` (state dict) and `cfg` (model / task / criterion) or
    legacy `args` (one argparse Namespace)."""
    path = Path(path)
    where = str(path)
    ckpt = _load_fairseq(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), Mapping):
        raise ConvertError(f"{where}: not a fairseq checkpoint (no `model` state dict)")
    cfg = _get(ckpt, "cfg")
    args, model_cfg, task_cfg = _get(ckpt, "args"), _get(cfg, "model"), _get(cfg, "task")
    sources = (model_cfg, task_cfg, args)
    _check_sizes(types.SimpleNamespace(**{k: _first(k, *sources) for k in _FIXED_SIZES}), where)
    max_hops = int(_first("multi_hop_max_dist", *sources, default=5))
    _check_supported(_first("edge_type", *sources), _first("activation_fn", *sources), where)
    if _first("share_encoder_input_output_embed", *sources, default=False):
        raise ConvertError(f"{where}: share_encoder_input_output_embed=True is not supported")

    state = {k: v.float() for k, v in ckpt["model"].items() if isinstance(v, torch.Tensor)}
    arch = _shape_arch(state, where)
    pre_ln = "encoder.graph_encoder.final_layer_norm.weight" in state  # created only by --pre-layernorm
    stored = _first("pre_layernorm", *sources)
    if stored is not None and bool(stored) != pre_ln:
        raise ConvertError(f"{where}: pre_layernorm={stored} in the arguments does not match the weights")
    arch.update(pre_layernorm=pre_ln, max_hops=max_hops,
                dropout=float(_first("dropout", *sources, default=0.0)),
                attention_dropout=float(_first("attention_dropout", *sources, default=0.1)),
                activation_dropout=float(_first("act_dropout", *sources, default=0.1)))
    num_outputs = _num_outputs(state, where)
    spm = _first("spatial_pos_max", task_cfg, model_cfg, args, default=OFFICIAL_SPATIAL_POS_MAX)
    spm = spm if spatial_pos_max is None else spatial_pos_max
    criterion = _criterion_name(ckpt, args)
    default_task = ("regression" if criterion.startswith("l1_loss") else
                    "classification" if criterion.startswith("binary_logloss") else
                    "multiclass" if criterion.startswith("multiclass") else
                    "regression" if num_outputs == 1 else None)
    return Source(state=state, arch=arch, num_outputs=num_outputs,
                  max_spatial_distance=max_spatial_distance_from(spm, shifted=False), legacy_drop_node0=True,
                  default_task=default_task,
                  notes=[f"official spatial_pos_max={spm}", f"criterion={criterion or 'unknown'}"])


# ------------------------------------------------------------------------------------------ mapping
def map_state_dict(state: Mapping[str, torch.Tensor], atom_row_shift: int = 0) -> dict[str, torch.Tensor]:
    """Source (fairseq names) -> our `Graphormer` state dict. Dead parameters are dropped; anything
    unknown is an error, so nothing is silently lost."""
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key.startswith(_DEAD):
            continue
        for old, new in _RENAMES:
            if key.startswith(old):
                out[new + key[len(old):]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ConvertError(f"unexpected parameters in the source: {', '.join(sorted(unknown)[:8])}")
    key = "node_embedding.atom_encoder.weight"
    if atom_row_shift and key in out:
        out[key] = shift_rows(out[key], atom_row_shift)
    return out


def shift_rows(table: torch.Tensor, shift: int) -> torch.Tensor:
    """Row r of the result = row r + shift of `table`; row 0 (padding) and the rows past the end are 0."""
    result = torch.zeros_like(table)
    result[1:table.shape[0] - shift] = table[1 + shift:]
    return result


def _padding_row_notes(state: Mapping[str, torch.Tensor]) -> list[str]:
    """The edge table's padding row is read for every empty hop. The reference sums a batch-dependent
    number of hop columns (fewer when every molecule of a batch is small); we always sum max_hops. Equal
    results need that row to be zero, which every init that zeroes padding rows (HF, apply_graphormer_init)
    guarantees, since padding rows get no gradient."""
    row = state.get("encoder.graph_encoder.graph_attn_bias.edge_encoder.weight")
    if row is None or not row[0].abs().max() > 0:
        return []
    return [f"warning: edge_encoder padding row is non-zero (max |w| {row[0].abs().max():.3g}); batches of "
            "molecules all narrower than max_hops can differ from the reference"]


def _target_names(task: str, num_outputs: int, names: Sequence[str] | None) -> list[str]:
    width = 1 if task == "multiclass" else num_outputs
    names = [f"target_{i}" for i in range(width)] if not names else [str(n) for n in names]
    if len(names) != width:
        raise ConvertError(f"{len(names)} target names for a {task} model with {width} target(s) "
                           f"({num_outputs} outputs)")
    return names


def build_module(source: Source, *, task: str | None = None, target_names: Sequence[str] | None = None,
                 max_hops: int | None = None, legacy_drop_node0: bool | None = None,
                 target_mean: Sequence[float] | None = None, target_std: Sequence[float] | None = None):
    """A MoleculeModel (eval mode) carrying the source's weights."""
    task = task or source.default_task
    if task is None:
        raise ConvertError(f"the source has {source.num_outputs} outputs: pass task=classification "
                           f"({source.num_outputs} independent binary targets) or task=multiclass "
                           f"(one target, {source.num_outputs} classes)")
    if task not in TASKS:
        raise ConvertError(f"task={task!r}; choose one of {', '.join(TASKS)}")
    if task == "multiclass" and source.num_outputs < 2:
        raise ConvertError("task=multiclass needs a source with at least 2 outputs")
    names = _target_names(task, source.num_outputs, target_names)
    if (target_mean is None) != (target_std is None) or (target_mean is not None and task != "regression"):
        raise ConvertError("target_mean and target_std go together, and only with task=regression")
    arch = dict(source.arch, max_spatial_distance=source.max_spatial_distance, attention="auto")
    if max_hops is not None:
        arch["max_hops"] = int(max_hops)
    if arch["max_hops"] < 1:  # the reference reads multi_hop_max_dist <= 0 as "every hop"
        raise ConvertError(f"multi_hop_max_dist={arch['max_hops']} (unlimited hops) is not supported; "
                           "pass max_hops=<n>")
    if arch["max_hops"] > arch["num_edge_dis"]:
        raise ConvertError(f"max_hops={arch['max_hops']} exceeds the {arch['num_edge_dis']} hop matrices")
    model = MoleculeModel(
        arch, task=task, target_names=names,
        target_mean=None if target_mean is None else [float(v) for v in target_mean],
        target_std=None if target_std is None else [float(v) for v in target_std],
        num_classes=source.num_outputs if task == "multiclass" else 2,
        legacy_drop_node0=source.legacy_drop_node0 if legacy_drop_node0 is None else bool(legacy_drop_node0))
    weights = map_state_dict(source.state, source.atom_row_shift)
    expected = model.model.state_dict()
    for key, value in weights.items():
        if key in expected and expected[key].shape != value.shape:
            raise ConvertError(f"{key}: source shape {tuple(value.shape)}, model expects {tuple(expected[key].shape)}")
    try:
        model.model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise ConvertError(f"the source weights do not fit the model ({err})") from None
    return model.eval()


def convert(source: str, path: str | Path, output: str | Path | None = None, *, task: str | None = None,
            target_names: Sequence[str] | None = None, max_hops: int | None = None,
            spatial_pos_max: int | None = None, legacy_drop_node0: bool | None = None,
            target_mean: Sequence[float] | None = None, target_std: Sequence[float] | None = None):
    """Read `path` (source: hf | fairseq) and return the MoleculeModel; also save it as a compact
    inference checkpoint when `output` is given. `spatial_pos_max` is in the source collator's own
    convention; None = that collator's default (HF 20, fairseq: the checkpoint's task value, 1024)."""
    readers = {"hf": read_hf, "fairseq": read_fairseq}
    if source not in readers:
        raise ConvertError(f"source={source!r}; choose one of {', '.join(SOURCES)}")
    src = readers[source](path, spatial_pos_max)
    src.notes += _padding_row_notes(src.state)
    model = build_module(src, task=task, target_names=target_names, max_hops=max_hops,
                         legacy_drop_node0=legacy_drop_node0, target_mean=target_mean, target_std=target_std)
    model.conversion_notes = list(src.notes)
    if output is not None:
        model.save(output)
    return model


def describe(model: MoleculeModel) -> str:
    """One line per fact a user should check after a conversion."""
    arch = model.arch
    lines = [
        f"model: {arch['num_layers']} layers, width {arch['embed_dim']}, ffn {arch['ffn_dim']}, "
        f"{arch['num_heads']} heads, {'pre' if arch['pre_layernorm'] else 'post'}-LN, "
        f"embedding LN {'on' if arch['embed_layernorm'] else 'off'}, max_hops {arch['max_hops']}",
        f"task: {model.task}, targets {model.target_names}"
        + (f", {model.num_classes} classes" if model.task == "multiclass" else ""),
        f"max_spatial_distance: {arch['max_spatial_distance']} (pairs at this SPD or farther are masked; "
        "None = none)",
        f"legacy_drop_node0: {model.legacy_drop_node0}",
    ]
    return "\n".join(lines + list(getattr(model, "conversion_notes", [])))
