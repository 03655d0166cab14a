// VLOAD and VSTORE for a kernel file that handles VW consecutive elements per work-item
// (`#include "_vectors.cl"`): vloadN / vstoreN for VW > 1, plain element access for
// VW == 1 (the default), so one kernel body serves both widths.
#ifndef VW
#define VW 1
#endif

#if VW == 1
#define VLOAD(o, p) (p)[o]
#define VSTORE(v, o, p) ((p)[o] = (v))
#else
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)
#endif
