"""pullback: arrays with composable automatic differentiation, in MLX's programming model."""

__version__ = "0.1.0"
