/* Multiboot v1 entry: clear .bss, set a stack, call guest_main(magic, info). */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003           /* page-align modules, want memory info */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
        .globl _start
_start:
        cli
        cld
        mov     %eax, %ebp                  /* multiboot magic */
        mov     %ebx, %esi                  /* multiboot info */
        mov     $__bss_start, %edi
        mov     $__bss_end, %ecx
        sub     %edi, %ecx
        xor     %eax, %eax
        rep stosb
        mov     $stack_top, %esp
        push    %esi
        push    %ebp
        call    guest_main
1:      hlt
        jmp     1b

        .section .bss
        .align 16
        .skip 16384
stack_top:

        .section .note.GNU-stack, "", @progbits
