# Install rules and the CMake package (find_package(Tessera)). Placeholder until written.
