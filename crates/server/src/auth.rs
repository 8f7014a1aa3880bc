//! Signed, expiring tokens (JWT, HS256).
//!
//! - A *join token* lets one member into one class with one role and name.
//! - An *invite* is what a student link carries: it names a class, not a person. Whoever
//!   holds it picks a display name and gets a join token for a fresh member id.

use aula_proto::{ErrorCode, MemberId, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Join,
    Invite,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Member id for join tokens; the invite's own id for invites.
    pub sub: String,
    /// Class id.
    pub cls: String,
    pub role: Role,
    pub name: String,
    pub knd: TokenKind,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    pub iat: u64,
    /// On a join token made from an open link: that invite's id, so every member an
    /// open link let in can be traced to it (and limited by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inv: Option<String>,
    /// On a join token: this member waits for a teacher whatever the waiting-room
    /// setting (an open-link join from the address of a removed member).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("this is not a {0:?} token")]
    WrongKind(TokenKind),
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::Invalid(_) | AuthError::WrongKind(_) => ErrorCode::InvalidToken,
        }
    }
}

pub struct TokenAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenAuthority {
    pub fn new(secret: &[u8]) -> Self {
        TokenAuthority {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn mint(&self, claims: &Claims) -> String {
        // Encoding HS256 with an in-memory key cannot fail for these plain claims.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks signature, expiry (at `now_s`, no leeway) and kind.
    pub fn verify(&self, token: &str, kind: TokenKind, now_s: u64) -> Result<Claims, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        // Expiry is checked below against the caller's clock, so tests can move time.
        v.validate_exp = false;
        v.required_spec_claims = ["exp".to_string()].into_iter().collect();
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid(e.to_string()),
                }
            })?;
        let claims = data.claims;
        if claims.exp <= now_s {
            return Err(AuthError::Expired);
        }
        if claims.knd != kind {
            return Err(AuthError::WrongKind(kind));
        }
        Ok(claims)
    }

    pub fn join_token(
        &self,
        class: &str,
        member: &MemberId,
        role: Role,
        name: &str,
        now_s: u64,
        ttl_s: u64,
    ) -> (String, u64) {
        let exp = now_s + ttl_s;
        let claims = Claims {
            sub: member.0.clone(),
            cls: class.to_owned(),
            role,
            name: name.to_owned(),
            knd: TokenKind::Join,
            exp,
            iat: now_s,
            inv: None,
            hold: false,
        };
        (self.mint(&claims), exp)
    }

    /// An open class link: anyone with it joins under a name of their choice.
    pub fn invite(&self, class: &str, now_s: u64, ttl_s: u64) -> (String, u64) {
        self.personal_invite(class, &MemberId(random_id()), "", now_s, ttl_s)
    }
}

/// 16 hex digits: unique enough for member and class ids, and valid in an msid.
impl TokenAuthority {
    /// A link for one roster student: whoever joins with it is that member, under that
    /// name, in every session.
    pub fn personal_invite(
        &self,
        class: &str,
        member: &MemberId,
        name: &str,
        now_s: u64,
        ttl_s: u64,
    ) -> (String, u64) {
        let exp = now_s + ttl_s;
        let claims = Claims {
            sub: member.0.clone(),
            cls: class.to_owned(),
            role: Role::Student,
            name: name.to_owned(),
            knd: TokenKind::Invite,
            exp,
            iat: now_s,
            inv: None,
            hold: false,
        };
        (self.mint(&claims), exp)
    }
}

impl Claims {
    /// An open class link carries no name; a roster student's personal link does.
    pub fn is_personal(&self) -> bool {
        self.knd == TokenKind::Invite && !self.name.is_empty()
    }
}

/// The signing key in use, which the operator can replace while the server runs
/// (`POST /api/secret/rotate`): every token signed with the old one stops verifying.
pub struct Keyring {
    current: std::sync::RwLock<std::sync::Arc<TokenAuthority>>,
}

impl Keyring {
    pub fn new(secret: &[u8]) -> Self {
        Keyring {
            current: std::sync::RwLock::new(std::sync::Arc::new(TokenAuthority::new(secret))),
        }
    }

    pub fn current(&self) -> std::sync::Arc<TokenAuthority> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn replace(&self, secret: &[u8]) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            std::sync::Arc::new(TokenAuthority::new(secret));
    }

    pub fn mint(&self, claims: &Claims) -> String {
        self.current().mint(claims)
    }

    pub fn verify(&self, token: &str, kind: TokenKind, now_s: u64) -> Result<Claims, AuthError> {
        self.current().verify(token, kind, now_s)
    }

    pub fn join_token(
        &self,
        class: &str,
        member: &MemberId,
        role: Role,
        name: &str,
        now_s: u64,
        ttl_s: u64,
    ) -> (String, u64) {
        self.current()
            .join_token(class, member, role, name, now_s, ttl_s)
    }

    pub fn invite(&self, class: &str, now_s: u64, ttl_s: u64) -> (String, u64) {
        self.current().invite(class, now_s, ttl_s)
    }

    pub fn personal_invite(
        &self,
        class: &str,
        member: &MemberId,
        name: &str,
        now_s: u64,
        ttl_s: u64,
    ) -> (String, u64) {
        self.current()
            .personal_invite(class, member, name, now_s, ttl_s)
    }
}

/// Compares two secrets in time that depends only on their lengths, never on where
/// they first differ, so a wrong guess teaches an attacker nothing about the key.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    // A length difference counts as a difference, without returning early.
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// A new random secret: 256 bits as 64 hex digits.
pub fn random_secret() -> String {
    (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect()
}

pub fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A display name as people type it: trimmed, 1 to 64 characters, no control characters.
/// The room's rule (`aula_room::names`): invisible and reordering characters dropped,
/// spaces collapsed, and no student dressed up as the staff.
pub fn clean_display_name(raw: &str, role: Role) -> Result<String, aula_room::names::NameError> {
    aula_room::names::display_name(raw, role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_token_round_trips_and_expires() {
        let a = TokenAuthority::new(b"secret-one");
        let (t, exp) = a.join_token("c1", &MemberId("m1".into()), Role::Teacher, "Ana", 1000, 60);
        assert_eq!(exp, 1060);
        let c = a.verify(&t, TokenKind::Join, 1059).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.cls.as_str(), c.role),
            ("m1", "c1", Role::Teacher)
        );
        assert_eq!(
            a.verify(&t, TokenKind::Join, 1060).unwrap_err(),
            AuthError::Expired
        );
        assert_eq!(
            a.verify(&t, TokenKind::Invite, 1000).unwrap_err().code(),
            ErrorCode::InvalidToken
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let a = TokenAuthority::new(b"secret-one");
        let b = TokenAuthority::new(b"secret-two");
        let (t, _) = b.join_token("c1", &MemberId("m1".into()), Role::Teacher, "Eve", 1000, 60);
        assert_eq!(
            a.verify(&t, TokenKind::Join, 1000).unwrap_err().code(),
            ErrorCode::InvalidToken
        );
        assert!(a.verify("garbage", TokenKind::Join, 0).is_err());
        // A student token with the role edited in the payload breaks the signature.
        let (s, _) = a.join_token("c1", &MemberId("m2".into()), Role::Student, "Sam", 1000, 60);
        let mut parts: Vec<String> = s.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].replacen('A', "B", 1);
        assert!(a.verify(&parts.join("."), TokenKind::Join, 1000).is_err());
    }

    #[test]
    fn secrets_compare_in_constant_time() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"xbc"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(!ct_eq(b"abc", b""));
        // A prefix of the key is not the key (the old `!=` got this right too, but a
        // hand-rolled loop that zipped the two would not).
        assert!(!ct_eq(b"abcdef", b"abc"));
        // Every byte is looked at: a difference in the last byte alone is caught.
        let key = [7u8; 64];
        let mut guess = key;
        guess[63] ^= 1;
        assert!(!ct_eq(&key, &guess));
    }

    #[test]
    fn a_rotated_keyring_refuses_what_the_old_key_signed() {
        let k = Keyring::new(b"old");
        let (t, _) = k.join_token("c", &MemberId("m".into()), Role::Student, "S", 10, 60);
        assert!(k.verify(&t, TokenKind::Join, 11).is_ok());
        k.replace(b"new");
        assert_eq!(
            k.verify(&t, TokenKind::Join, 11).unwrap_err().code(),
            ErrorCode::InvalidToken
        );
    }

    #[test]
    fn display_names_are_cleaned() {
        let student = |s: &str| clean_display_name(s, Role::Student).ok();
        assert_eq!(student("  Ana \n").as_deref(), Some("Ana"));
        assert_eq!(student("   "), None);
        assert_eq!(student(&"x".repeat(65)), None);
        assert_eq!(student("Zoë\u{7}").as_deref(), Some("Zoë"));
        assert_eq!(student("Te\u{200B}acher"), None);
        assert!(clean_display_name("Teacher", Role::Teacher).is_ok());
    }
}
