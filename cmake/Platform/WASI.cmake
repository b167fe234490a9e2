# CMake 3.25 has no WASI platform of its own: this is all it needs to know.
set(CMAKE_EXECUTABLE_SUFFIX ".wasm")
set(CMAKE_STATIC_LIBRARY_PREFIX "lib")
set(CMAKE_STATIC_LIBRARY_SUFFIX ".a")
set(CMAKE_C_OUTPUT_EXTENSION ".obj")
