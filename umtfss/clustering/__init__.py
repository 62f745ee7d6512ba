"""k-means engines behind one function, nearest-centroid assignment with Dask, and cluster quality."""
