# kbench: sweeps of every operation on every device (docs/kbench.md).
add_executable(kbench ${PROJECT_SOURCE_DIR}/bench/kbench.cpp ${PROJECT_SOURCE_DIR}/bench/cases.cpp ${PROJECT_SOURCE_DIR}/bench/timing.cpp ${PROJECT_SOURCE_DIR}/bench/report.cpp)
target_include_directories(kbench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(kbench PRIVATE tessera fmt::fmt CLI11::CLI11 nlohmann_json::nlohmann_json)
