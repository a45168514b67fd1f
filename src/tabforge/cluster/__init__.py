"""Work spread over a Dask cluster (``--dask``): connecting, and scoring files by partition."""
