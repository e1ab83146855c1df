from graphormer.train.module import GraphormerModule

__all__ = ["GraphormerModule"]
