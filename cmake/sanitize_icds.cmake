# The OpenCL drivers the sanitizer suite sees (included by the top-level CMakeLists.txt when
# CLVAE_SANITIZE is on; issue 18).
#
# Why: the ICD loader opens every vendor file in /etc/OpenCL/vendors in every process that touches
# OpenCL, whichever device the test then uses. Mesa's Clover ICD (libMesaOpenCL.so.1, a platform
# that lists no devices on the CPU-only machines here) leaks a 128-byte realloc on some CPUs (seen
# on AMD EPYC, not on Intel Xeon), and the loader dlcloses it before exit: LeakSanitizer then
# reports the leak with one "<unknown module>" frame that no suppression can match (the fast
# unwinder stops there; fast_unwind_on_malloc=0 reaches the loader's frames but deadlocked
# test_ops and test_shard against the drivers' threads). So the sanitizer run loads every ICD but
# Clover: OCL_ICD_VENDORS names a folder in the build tree with copies of the other vendor files.
# Clover stays covered by the plain suite (`make test`: test_opencl_select checks that its empty
# platform is listed and never chosen), and a leak in clvae's own code still fails the suite
# (test/sanitize_leak.sh plants one). Nothing else is excluded: PoCL, rusticl and any GPU vendor's
# ICD stay in.
set(CLVAE_SYSTEM_ICDS "/etc/OpenCL/vendors")
if(DEFINED ENV{OPENCL_VENDOR_PATH})
  set(CLVAE_SYSTEM_ICDS "$ENV{OPENCL_VENDOR_PATH}")
endif()
set(CLVAE_SANITIZE_ICDS "${CMAKE_BINARY_DIR}/icd-vendors")
file(REMOVE_RECURSE "${CLVAE_SANITIZE_ICDS}")
file(MAKE_DIRECTORY "${CLVAE_SANITIZE_ICDS}")
file(GLOB icd_files CONFIGURE_DEPENDS "${CLVAE_SYSTEM_ICDS}/*.icd")
set(kept "")
foreach(icd ${icd_files})
  file(READ "${icd}" library)
  get_filename_component(icd_name "${icd}" NAME)
  if(library MATCHES "libMesaOpenCL")
    message(STATUS "Sanitizer suite: leaving out Mesa's Clover ICD ${icd} (see cmake/sanitize_icds.cmake)")
  else()
    configure_file("${icd}" "${CLVAE_SANITIZE_ICDS}/${icd_name}" COPYONLY)
    list(APPEND kept "${icd_name}")
  endif()
endforeach()
message(STATUS "Sanitizer suite: OpenCL ICDs ${kept} (OCL_ICD_VENDORS=${CLVAE_SANITIZE_ICDS})")

# Gives every test defined so far in the calling directory OCL_ICD_VENDORS (call it at the end of
# test/ and fuzz/).
function(clvae_sanitize_icd_env)
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t ${tests})
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "OCL_ICD_VENDORS=${CLVAE_SANITIZE_ICDS}")
  endforeach()
endfunction()
