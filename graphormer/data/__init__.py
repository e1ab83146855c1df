"""Dataset sources, splits, on-disk cache, collate, size-bucketed sampler and the LightningDataModule.

Import submodules directly (e.g. `graphormer.data.datamodule`) so light users need not import Lightning.
"""
