# LibTorch comes from the `torch` wheel on PyPI (version pinned in requirements/reference.txt).
# The wheel's CMake package is found through the Python that has it installed. This file serves the
# build and, installed beside shadowpeftConfig.cmake, every project that uses find_package(shadowpeft):
# it defines the imported targets shadowpeft::torch and shadowpeft::fmt the libraries link.
if(TARGET shadowpeft::torch)
  return()
endif()
if(NOT Torch_DIR)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  execute_process(
    COMMAND ${Python3_EXECUTABLE} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _torch_rc)
  if(NOT _torch_rc EQUAL 0)
    message(FATAL_ERROR "Python package 'torch' not found for ${Python3_EXECUTABLE}; install the version in "
                        "shadowpeft's requirements/reference.txt (scripts/setup.sh does) or set Torch_DIR")
  endif()
  list(APPEND CMAKE_PREFIX_PATH ${_torch_prefix})
endif()
# A CUDA wheel makes TorchConfig probe for GPUs (a try_run that fails on a machine without one).
# We compile no CUDA code ourselves, so naming the target architecture (H100/H200) skips the probe.
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "9.0")
endif()
find_package(Torch REQUIRED)
message(STATUS "LibTorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}")

add_library(shadowpeft::torch INTERFACE IMPORTED GLOBAL)
target_link_libraries(shadowpeft::torch INTERFACE ${TORCH_LIBRARIES})
# TORCH_CXX_FLAGS carries the wheel's _GLIBCXX_USE_CXX11_ABI setting.
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(shadowpeft::torch INTERFACE ${_torch_flags})
# The wheel's include directory ships its own {fmt} (v12), which shadows Debian's libfmt-dev headers
# (v9) on every include path that sees LibTorch. Mixing v12 headers with the v9 library cannot link,
# so {fmt} is used header-only, from the copy LibTorch ships.
target_compile_definitions(shadowpeft::torch INTERFACE FMT_HEADER_ONLY=1)
# libtorch.so exports its own (broken) copies of std::filesystem functions: std::filesystem::remove_all
# resolved there jumps to address 0. Putting libstdc++ first among the needed libraries makes the
# linker and the loader bind those symbols to libstdc++.
target_link_options(shadowpeft::torch INTERFACE "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")

# Torch-free code (core, JSON, tokenizer, chat templates) still formats with the same {fmt} headers.
add_library(shadowpeft::fmt INTERFACE IMPORTED GLOBAL)
target_include_directories(shadowpeft::fmt SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_compile_definitions(shadowpeft::fmt INTERFACE FMT_HEADER_ONLY=1)
