"""Datasets as whole tensors: MNIST and CIFAR-10 from their standard files, any Keras .npz, synthetic."""

from uvb_lab.data.images import DataError, ImageData

__all__ = ["DataError", "ImageData"]
