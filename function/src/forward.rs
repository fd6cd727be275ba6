//! [`forward_to_variants!`]: a trait implemented by an enum of its implementations, such as
//! the store's `AnyStore`, one type chosen at start-up instead of a generic or a box.

/// Implements a trait whose methods are all `async fn(&self, ...)` for an enum whose every
/// variant holds an implementation: each method forwards to the chosen variant's. List the
/// variants, then the methods' signatures:
///
/// ```ignore
/// forward_to_variants! {
///     impl Store for AnyStore { DynamoDb, Embedded }
///     fn get_lock(&self, key: &LockKey) -> Result<Option<Lock>>;
/// }
/// ```
macro_rules! forward_to_variants {
    (
        impl $trait:ident for $enum:ident $variants:tt
        $(fn $method:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty;)*
    ) => {
        impl $trait for $enum {
            $(async fn $method(&self $(, $arg: $ty)*) -> $out {
                $crate::forward::forward_to_variants!(@call self, $enum $variants, $method($($arg),*))
            })*
        }
    };
    (@call $self:ident, $enum:ident { $($variant:ident),+ }, $method:ident $args:tt) => {
        match $self {
            $($enum::$variant(inner) => inner.$method $args.await,)+
        }
    };
}

pub(crate) use forward_to_variants;
