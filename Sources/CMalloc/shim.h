// glibc's malloc tuning (mallopt), which the Glibc module does not bring: the gateway limits its arenas.
#include <malloc.h>
