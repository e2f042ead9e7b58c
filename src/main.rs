//! The `densi` command. TODO(cli helper): implement.
fn main() {
    eprintln!("densi: not implemented yet");
    std::process::exit(1);
}
