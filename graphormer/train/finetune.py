"""`graphormer finetune`: start from a checkpoint's weights, new data, a fresh or kept head, optional freezing."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from graphormer.errors import DataError
from graphormer.model.molecule import MoleculeModel
from graphormer.pretrained import pretrained_path
from graphormer.train.module import GraphormerModule
from graphormer.train.run import build_module, extra_features, fit_and_test, prepare_data, resolve_checkpoint

HEAD_KEYS = ("embed_out.weight", "lm_output_learned_bias")
WIDENED = ("head_transform.weight",)  # its input width grows with model.extra_features
# What `finetune pretrained=<name>` adds at the head unless finetune.model.extra_features says otherwise:
# the descriptors won on the validation splits of docs/finetuning.md.
PRETRAINED_FEATURES = "rdkit2d"


def freeze(module: GraphormerModule, embeddings: bool, layers: int) -> int:
    """Freeze the input embeddings / attention-bias tables and the first `layers` encoder layers."""
    model = module.model
    frozen = []
    if embeddings:
        frozen += [model.node_embedding, model.attn_bias]
        if model.embed_layer_norm is not None:
            frozen.append(model.embed_layer_norm)
    if layers > len(model.layers):
        raise ValueError(f"finetune.freeze_layers={layers} but the model has {len(model.layers)} layers")
    frozen += list(model.layers[:layers])
    count = 0
    for part in frozen:
        for p in part.parameters():
            p.requires_grad_(False)
            count += p.numel()
    return count


def starting_checkpoint(cfg: DictConfig) -> str:
    """pretrained=<name> (weights shipped in the package) or ckpt_path=<file>; exactly one of them."""
    pretrained, ckpt = cfg.get("pretrained"), cfg.get("ckpt_path")
    if bool(pretrained) == bool(ckpt):
        raise DataError("graphormer finetune needs exactly one of pretrained=slim (shipped weights) "
                        "or ckpt_path=<checkpoint>")
    return str(pretrained_path(pretrained)) if pretrained else str(ckpt)


def finetune(cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    source = starting_checkpoint(cfg)
    pretrained = MoleculeModel.load(source)
    changes = {k: v for k, v in OmegaConf.to_container(cfg.finetune.model, resolve=True).items() if v is not None}
    if cfg.get("pretrained") and "extra_features" not in changes:
        changes["extra_features"] = PRETRAINED_FEATURES
    model_hparams = {**pretrained.arch, **changes}
    inherited = pretrained.descriptors.to_dict() if pretrained.descriptors else None
    model_hparams, descriptors = extra_features(model_hparams, inherited)
    legacy = pretrained.legacy_drop_node0
    datamodule = prepare_data(cfg, run_dir, legacy_drop_node0=legacy, max_hops=model_hparams["max_hops"],
                              descriptors=descriptors)

    # The head (and its target scaling) carries over only to the same task with the same targets; any other
    # task starts from a fresh head scaled on its own training labels.
    same_head = (pretrained.task == datamodule.task
                 and list(pretrained.target_names) == list(datamodule.target_names)
                 and pretrained.num_classes == datamodule.num_classes
                 and inherited == descriptors)
    keep_head = same_head and not cfg.finetune.reset_head
    stats = None
    if keep_head:  # the kept head speaks in the pretrained target scaling
        stats = (pretrained.target_mean.numpy(), pretrained.target_std.numpy())
    module = build_module(cfg, datamodule, model_hparams=model_hparams, legacy_drop_node0=legacy,
                          target_stats=stats, descriptors=descriptors)
    state = pretrained.model.state_dict()
    if not keep_head:
        state = {k: v for k, v in state.items() if k not in HEAD_KEYS}
    # The head's first layer is new when the extra inputs change its width.
    target = module.model.state_dict()
    state = {k: v for k, v in state.items() if not (k in HEAD_KEYS + WIDENED and v.shape != target[k].shape)}
    missing, unexpected = module.model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= set(HEAD_KEYS + WIDENED), (missing, unexpected)
    print(f"fine-tuning from {cfg.get('pretrained') or source}: head {'kept' if keep_head else 'replaced'}"
          f" ({module.model.embed_out.weight.shape[0]} outputs)")
    frozen = freeze(module, cfg.finetune.freeze_embeddings, cfg.finetune.freeze_layers)
    if frozen:
        print(f"frozen: {frozen:,} parameters")
    return fit_and_test(cfg, run_dir, module, datamodule, resolve_checkpoint(None, cfg.resume, run_dir))
