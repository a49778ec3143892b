# Installation and the exported CMake package:
#   <prefix>/include/ember/...             public headers (the API stability promise covers exactly these)
#   <prefix>/include/ember_generated/      version.h
#   <prefix>/lib/libember.{a,so}
#   <prefix>/lib/cmake/Ember/              EmberConfig.cmake, EmberConfigVersion.cmake, EmberTargets*.cmake
# so that a separate project does find_package(Ember REQUIRED) and links ember::ember.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(EMBER_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/Ember" CACHE STRING
    "Where the Ember CMake package files are installed, relative to the prefix")

# ---- public headers ------------------------------------------------------------
# Every *.h directly in these folders is public. Private headers live elsewhere: kernels/,
# core/cuda/, dist/gloo/, dist/nccl/ (not globbed: the glob is not recursive), *.cuh, and the
# named exceptions below.
set(EMBER_PUBLIC_HEADER_DIRS core autograd ops nn optim data dist)
# ops/max_pool_backward.h: a backward node shared by two ops in ops/; ops/weight_grad_branch.h:
# how backward nodes in ops/ fork their weight gradients onto a second stream.
set(EMBER_PRIVATE_HEADERS ops/op_utils.h ops/max_pool_backward.h ops/weight_grad_branch.h)
set(EMBER_PUBLIC_HEADERS ember.h)
foreach(dir ${EMBER_PUBLIC_HEADER_DIRS})
  file(GLOB dir_headers CONFIGURE_DEPENDS RELATIVE "${PROJECT_SOURCE_DIR}" "${PROJECT_SOURCE_DIR}/${dir}/*.h")
  list(APPEND EMBER_PUBLIC_HEADERS ${dir_headers})
endforeach()
list(REMOVE_ITEM EMBER_PUBLIC_HEADERS ${EMBER_PRIVATE_HEADERS})
list(SORT EMBER_PUBLIC_HEADERS)

foreach(header ${EMBER_PUBLIC_HEADERS})
  get_filename_component(header_dir "${header}" DIRECTORY)
  install(FILES "${PROJECT_SOURCE_DIR}/${header}"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/ember/${header_dir}" COMPONENT Ember_Development)
endforeach()
install(FILES "${EMBER_BUILD_INCLUDE}/ember_generated/version.h"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/ember_generated" COMPONENT Ember_Development)

# ---- the library and its exported target ---------------------------------------
install(TARGETS ember EXPORT EmberTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT Ember_Development
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT Ember_Runtime NAMELINK_COMPONENT Ember_Development
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT Ember_Runtime
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT EmberTargets NAMESPACE ember:: FILE EmberTargets.cmake
        DESTINATION "${EMBER_INSTALL_CMAKEDIR}" COMPONENT Ember_Development)

# ---- EmberConfig.cmake and its version file -------------------------------------
# A static libember.a carries its private dependencies into the consumer's link line, so the
# config must find them again; a shared one needs only Threads (its PUBLIC dependency).
get_target_property(EMBER_LIBRARY_TYPE ember TYPE)
if(EMBER_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  set(EMBER_STATIC_LIBRARY ON)
else()
  set(EMBER_STATIC_LIBRARY OFF)
endif()
# Plain file paths in the link interface (BLAS, cuDNN, NCCL) are recorded as they are; the
# config checks that they still exist so a moved toolkit fails at configure time, not link time.
set(EMBER_LINKED_FILES ${BLAS_LIBRARIES})
if(EMBER_WITH_CUDNN)
  list(APPEND EMBER_LINKED_FILES ${CUDNN_LIBRARY})
endif()
if(EMBER_WITH_NCCL)
  list(APPEND EMBER_LINKED_FILES ${NCCL_LIBRARY})
endif()
list(FILTER EMBER_LINKED_FILES INCLUDE REGEX "^/")

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/EmberConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/EmberConfig.cmake"
  INSTALL_DESTINATION "${EMBER_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/EmberConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/EmberConfig.cmake" "${PROJECT_BINARY_DIR}/EmberConfigVersion.cmake"
        DESTINATION "${EMBER_INSTALL_CMAKEDIR}" COMPONENT Ember_Development)

# ---- test: the public headers compile with a plain C++ compiler ----------------------
# Copies exactly the headers that get installed into a staging include tree and compiles
# ember.h (and each header alone) with the host compiler, no CUDA include path. This catches a
# public header that includes a CUDA header or a private (not installed) one.
if(EMBER_BUILD_TESTS)
  string(REPLACE ";" "|" EMBER_PUBLIC_HEADERS_ARG "${EMBER_PUBLIC_HEADERS}")
  add_test(NAME public_headers_plain_cxx
           COMMAND ${CMAKE_COMMAND}
                   -DCXX=${CMAKE_CXX_COMPILER}
                   -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DGENERATED=${EMBER_BUILD_INCLUDE}/ember_generated/version.h
                   -DHEADERS=${EMBER_PUBLIC_HEADERS_ARG}
                   -DWORK_DIR=${PROJECT_BINARY_DIR}/public_headers_check
                   -P ${CMAKE_CURRENT_LIST_DIR}/CheckPublicHeaders.cmake)
  set_tests_properties(public_headers_plain_cxx PROPERTIES LABELS install TIMEOUT 600)
endif()
