# The opencl backend. Until its runtime lands, the stub keeps the library linking.
target_sources(tessera PRIVATE host/src/opencl/stub.cpp)
