
# taskmasterctl: process names from the running daemon, plugin names from $PATH.
(( $+functions[_taskmasterctl_names] )) ||
_taskmasterctl_names() {
    local -a typed globals names
    local i
    typed=(${(z)BUFFER})
    for (( i = 2; i < ${#typed}; i++ )); do
        case ${typed[i]} in
            -c|--config|--configuration|-s|--server-url|--serverurl)
                globals+=(${typed[i]} ${(Q)typed[i+1]}) ;;
        esac
    done
    names=(${(f)"$(${typed[1]} "${globals[@]}" __complete-names 2>/dev/null)"})
    compadd -a names
}
