"""The Docker engine: compose for one target, the Engine API, containers, images and releases."""
