"""Every shipped config composes, and the published recipes carry the reference hyper-parameters."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module

EXPERIMENTS = {
    # name: (verb, expected values)
    "pcqm4mv2_base": ("train", {"model.embed_dim": 768, "data.batch_size": 256, "optim.warmup": 60000,
                                "trainer.max_steps": 1000000, "model.attention_dropout": 0.1}),
    "zinc_slim": ("train", {"model.embed_dim": 80, "optim.weight_decay": 0.01, "trainer.max_steps": 400000}),
    "molhiv_flag": ("finetune", {"flag.steps": 3, "flag.step_size": 0.01, "optim.end_lr": 1e-5,
                                 "data.name": "ogbg-molhiv"}),
    "molpcba_flag": ("finetune", {"flag.steps": 4, "flag.mag": 1e-3, "finetune.model.attention_dropout": 0.3}),
}


def _get(cfg, dotted):
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_experiment_recipes(name):
    verb, expected = EXPERIMENTS[name]
    with initialize_config_module("graphormer.configs", version_base="1.3"):
        overrides = [f"experiment={name}"] + (["ckpt_path=x.ckpt"] if verb == "finetune" else [])
        cfg = compose(verb, overrides=overrides)
    for key, value in expected.items():
        assert _get(cfg, key) == value, key


@pytest.mark.parametrize("verb", ["train", "finetune", "predict", "evaluate", "embed", "explain", "export", "convert"])
def test_every_verb_config_composes(verb):
    with initialize_config_module("graphormer.configs", version_base="1.3"):
        cfg = compose(verb)
    assert cfg is not None


@pytest.mark.parametrize("model,params", [("slim", 952_593), ("base", 47_677_505)])
def test_model_configs_build_the_published_sizes(model, params):
    import torch
    from omegaconf import OmegaConf

    from graphormer.model import Graphormer, count_parameters

    with initialize_config_module("graphormer.configs", version_base="1.3"):
        cfg = compose("train", overrides=[f"model={model}"])
    with torch.device("meta"):
        assert count_parameters(Graphormer(**OmegaConf.to_container(cfg.model))) == params
