# The installable library: libclvae.so.<SOVERSION> built from the static archive's objects with
# the C API (src/api/) on top, exporting only the CLVAE_API functions of include/clvae/clvae.h;
# its headers, a CMake package (find_package(clvae) -> clvae::clvae) and clvae.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_library(clvae_shared SHARED ${CLVAE_API_SRC})
set_target_properties(clvae_shared PROPERTIES
  OUTPUT_NAME clvae VERSION ${PROJECT_VERSION} SOVERSION ${CLVAE_SOVERSION}
  C_VISIBILITY_PRESET hidden LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
target_include_directories(clvae_shared PRIVATE src ${CMAKE_SOURCE_DIR}/cl PUBLIC
  $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
# The static archive's members the API needs are pulled in (they are PIC); nothing but the
# CLVAE_API functions leaves the shared object. -z defs: every symbol resolved at link time.
target_link_libraries(clvae_shared PRIVATE clvae)
if(NOT CLVAE_SANITIZE AND NOT CLVAE_FUZZ)
  target_link_options(clvae_shared PRIVATE -Wl,-z,defs)
endif()

set(CLVAE_PUBLIC_HEADERS include/clvae/clvae.h include/clvae/status.h include/clvae/export.h)
install(TARGETS clvae_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CLVAE_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/clvae)
install(TARGETS clvae_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# pkg-config: the library links against its dependencies itself (DT_NEEDED), so they are only
# Requires.private (static users and `pkg-config --print-requires-private`).
set(CLVAE_PC_REQUIRES_PRIVATE "inih libcjson libpng zlib")
if(OPENCL_FOUND AND CLBLAST_FOUND AND CLVAE_OCL_SRC AND CLVAE_OPENCL)
  string(APPEND CLVAE_PC_REQUIRES_PRIVATE " OpenCL clblast")
  set(CLVAE_WITH_OPENCL ON)
else()
  set(CLVAE_WITH_OPENCL OFF)
endif()
# the .pc file finds the prefix relative to itself, so the installed tree can move
file(RELATIVE_PATH CLVAE_PC_UP /x/${CMAKE_INSTALL_LIBDIR}/pkgconfig /x)
configure_file(cmake/clvae.pc.in ${CMAKE_BINARY_DIR}/clvae.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/clvae.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake package: a hand-written config (the shared library's link interface names the private
# static archive, which install(EXPORT) cannot export) that defines the imported clvae::clvae.
configure_package_config_file(cmake/clvae-config.cmake.in
  ${CMAKE_BINARY_DIR}/clvae-config.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/clvae
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/clvae-config-version.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/clvae-config.cmake ${CMAKE_BINARY_DIR}/clvae-config-version.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/clvae)
