"""cxloop: the customer experience loop for SaaS vendors."""

__version__ = "0.1.0"

__all__ = ["__version__"]
