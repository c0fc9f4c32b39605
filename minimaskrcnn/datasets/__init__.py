"""Datasets: the toy shapes generator and COCO-format reading/writing."""
