"""Datasets (embedded benchmark, PASCAL-5i, COCO-20i, image folders), the manifest, labeled fractions,
joint transforms and episode samplers."""
