"""Datasets (embedded benchmark, PASCAL-5i, COCO-20i, CCP, mask and image folders), reading images and masks,
the manifest and labeled fractions. Nothing here imports the packages built on it (tests/test_layering.py);
episodes are :mod:`umtfss.episodes`."""
